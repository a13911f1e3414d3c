"""Figures: :mod:`~csip.viz.figures` (banners beside their masks, retrieval grids, Acc@n
curves; matplotlib, no display needed) and :mod:`~csip.viz.demo` (the sFB demo of built-in
scenes, the paper's Fig. 2)."""
