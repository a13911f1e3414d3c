"""``csip search`` as a library: queries (a cache item, an image file, a spatial layout), the
ranking of a gallery by cosine, and the figure. :mod:`csip.commands.search` is the click layer.

- :mod:`.layout`: a layout — two boxes in relative coordinates, or a two-colour PNG — parsed,
  rasterised at the cache's image size, and turned into its banner with the cache's descriptor;
- :mod:`.queries`: each kind of query prepared as the ranking needs it;
- :mod:`.ranking`: top-k by cosine, the banner relevance, the check that nothing ranked is NaN;
- :mod:`.figure`: the query (its layout or image), its banner, and the top images, A and B outlined.

Modules are imported on use (torch and matplotlib are slow to import; ``csip search --help`` is not).
"""

from __future__ import annotations

#: ``-O`` keys of an image query's SAM: those that go to SamAutomaticMaskGenerator, and those
#: that choose the two masks (:func:`csip.data.folder.pick_two`). Here, in a module that imports
#: nothing, so that ``csip search --help`` can list them.
GENERATOR_KEYS = ("points_per_side", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh")
PICK_KEYS = ("saliency", "max_area_frac", "max_overlap", "min_pixels")
