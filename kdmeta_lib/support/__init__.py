"""Support: the plumbing every notebook imports and no lesson is about.

=================  ==============================================================
``stats``          mean ± 95% confidence intervals, the share of a gap recovered
``runtime``        device choice, seeding, progress bars, the CPU-friendly layout
``plots``          figures shared by the notebooks (episodes, image grids)
``vmap_safe``      a torch-bug workaround: batch norm that ``vmap`` differentiates twice
``validation``     the one set of argument checks: numbers, counts, labels, variables
=================  ==============================================================
"""
