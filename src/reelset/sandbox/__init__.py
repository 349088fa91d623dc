"""The offline sandbox: real local stand-ins for the internet and the sample generators that ``reelset demo`` runs.

Every remote service reelset talks to has a real server here on 127.0.0.1 (:mod:`~reelset.sandbox.servers`: a fake
Hugging Face hub, a Range-capable media server), and what they serve is generated here (:mod:`~reelset.sandbox.media`,
:mod:`~reelset.sandbox.action100m_sample`, :mod:`~reelset.sandbox.yt8m_mirror`, :mod:`~reelset.sandbox.yt8m_sample`).
Used by ``reelset demo`` and the taste samples, and reused by the tests; test-only helpers live in ``tests/support``.
"""
