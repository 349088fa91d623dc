"""The offline sandbox: real local stand-ins for the internet and the sample generators that ``reelset demo`` runs.

Every remote service reelset talks to has a real server here on 127.0.0.1 (:mod:`~reelset.sandbox.servers`: a fake
Hugging Face hub, a Range-capable media server), and what they serve is generated here (:mod:`~reelset.sandbox.media`,
:mod:`~reelset.sandbox.action100m_sample`, :mod:`~reelset.sandbox.yt8m_mirror`, :mod:`~reelset.sandbox.yt8m_sample`,
the segment task's learnable v3 records :mod:`~reelset.sandbox.yt8m_segment_sample`, and for ``taste --yt8m`` the
learnable records of :mod:`~reelset.sandbox.yt8m_colours`), as are the model files in their official formats
(:mod:`~reelset.sandbox.vggish_files`, the tiny Inception archives of :mod:`~reelset.sandbox.inception_files`).
Used by ``reelset demo`` and the taste samples, and reused by the tests; test-only helpers live in ``tests/support``.
"""
