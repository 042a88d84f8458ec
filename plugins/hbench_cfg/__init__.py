"""hbench's layered probabilistic context-free grammar (``cfg``), with varying sequence lengths
and an unknown parse, and its exact oracle (``inside-outside``).

Registered through the ``hbench`` entry point ``cfg``: the grammar ``cfg`` (`grammar`), the
filter ``cfg`` (level 0 only: `factories.CFGFilter` says why), the oracle ``inside-outside``
(`inside_outside`) and the suites ``cfg-smoke`` and ``cfg-cpu`` (one length) and
``cfg-var-smoke`` and ``cfg-var-cpu`` (varying lengths, padded inputs: `suites`). This module
imports nothing, so that listing plugins stays cheap.

From Python::

    from hbench.registry.registry import get_registry

    grammar = get_registry().get("grammar", "cfg").create({"symbols": [1, 3, 3, 3]})
    sample = grammar.sample(1000, seed=0)  # leaves padded with hbench.contracts.PAD, lengths
    oracle = get_registry().get("oracle", "inside-outside").create()
    posteriors = oracle.posteriors(grammar, sample.leaves)  # -1 in leaves: masked
    spans = oracle.span_posteriors(grammar, sample.leaves[:10])
"""
