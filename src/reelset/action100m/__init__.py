"""Action100M (``facebook/action100m-preview``): hub fetch, parquet shards, ids, and (next) the FiftyOne dataset."""
