"""Built-in synthetic spatial scenes: the default data of every command and of most tests.

Each scene is a square RGB image (``size`` pixels, 128 by default) on a cluttered textured
background, with two main objects A and B (plus up to ``distractors`` smaller ones drawn behind
them, and sometimes an occluder in front), their visible masks and boxes, a relation label and
templated yes/no questions.

Determinism: scene ``i`` of ``SyntheticSource(seed=s)`` is drawn from
``numpy.random.default_rng((s, i))`` alone, so it is the same in every process and whatever the
order in which items are loaded.

How scenes are made
-------------------
- **Shapes** (10 families, :mod:`.shapes`): ellipse, rectangle, triangle, star, ring, cross, blob,
  diamond, crescent, L-shape; random size, aspect and rotation. Each is rasterised at pixel centres
  from an implicit function.
- **Appearance** (:mod:`.appearance`): a named colour (red, green, blue, ...) with a random texture
  (solid, stripes, checker, dots, noise, gradient) mixing it with a darker or lighter shade of
  itself, so the colour name stays true. Shape and colour are drawn independently of the relation.
- **Layout** (:mod:`.layout`): a target relation is drawn uniformly from the nine predicates (or,
  with probability ``p_free``, a free layout), objects are placed to realise it (contact and gaps
  are made exact by sliding one mask against the other), then the label is **recomputed from the
  final geometry** by :func:`.relations.relations` (a few re-draws when it disagrees with the
  target; the label may end ``None`` when the geometry is ambiguous). Rules: :mod:`.relations`.
- **Occlusion**: one of A and B is in front; its full mask is drawn over the other, and the hidden
  part is removed from the other's visible mask. An occluder may then hide part of one of them.

What version 2 changed, and why (:data:`.scene.GENERATOR_VERSION`)
------------------------------------------------------------------
Version 1 let the two boxes decide almost every label. Measured before any change with
``benches/box_oracle.py`` (5000 scenes of seed 0; an MLP reading only the two visible boxes,
trained on 80 % of them, tested on the rest): **88.7 %** test accuracy; 100 % on "in", "to the
left / right of" and "above", 99 % on "on" and "under", 93 % on "next to"; only "in front of" /
"behind" (57 % / 48 %) needed the pixels. A random encoder of the boxes was therefore near the
ceiling of the relation task (SRR Acc@1 89.8 % in the demo), which then said nothing.
Photographs are not like that: contact, containment and depth are not functions of two boxes.
The changes, each aimed at one of those box shortcuts:

1. **Contact is decided by the masks.** Version 1 labelled "to the left of" only when the boxes
   were 8 px apart and "above" only when 4 px apart, so contact ("next to", "on") and separation
   could be read from the box gap. Now separation means the *masks* are more than 3 px apart, and
   half of the directional scenes put the masks only 4–10 px apart (:func:`.layout.close_in`):
   their boxes often touch or overlap.
2. **Boxes inside boxes that are not "in".** Half of the "in front of" / "behind" scenes put a
   small A anywhere in the square around B, often inside B's box but partly outside B itself
   (:func:`.layout.place_pair`): containment must be read from the masks, as "in" needs 95 % of A within B's silhouette.
3. **Concave shapes** (crescent, L-shape): their boxes are partly background, so touching or
   overlapping boxes do not mean touching objects.
4. **Occluders**: with probability ``p_occluder`` (0.5), a shape in front of everything hides
   10–45 % of A or of B (:func:`.layout.find_occluder`), never near the other object, so the
   evidence of contact stays visible. The visible mask and box shrink, as in photographs (and in
   SAM's masks); the label is judged again from what stays visible.

After the changes the same box-only MLP reaches **83.6 %**: "in" 92 %, "above" 90 %, "next to"
86 %, "to the left / right of" 93 / 95 %, "on" 95 %, "in front of" / "behind" 45 / 52 %. The
boxes still give the *direction*, and "under" (100 %) is direction alone: the predicate covers
both B resting on A and B apart above A. Occluders are found less often where A and B overlap
or touch on all sides (their 2-px clearance rarely fits), so "in", "in front of" and "behind"
scenes have one less often (18 % of them, against 38 % of all scenes; 2000 scenes of seed 0).

Questions (:mod:`.questions`): each predicate is also given a truth value in {True, False,
None}; "False" is only claimed when clearly false, and ``None`` predicates are never asked. Each
scene gets one true and one false question (in random order) when both exist: "Is the red star to
the left of the blue ring?"; false ones swap the objects or use a predicate that is false, with
weights that keep every predicate's "yes" rate near one half, so the question text alone gives
little away.

Speed: numpy on shape windows, 1-D profiles and pixel lists; a few ms of CPU per 128-px scene.
"""

from .appearance import COLOUR_NAMES, COLOURS, TEXTURES
from .relations import ObjectMasks, relations
from .scene import GENERATOR_VERSION, Scene, SyntheticSource, compose_scene, generate, make_scene
from .shapes import SHAPES

__all__ = [
    "COLOURS", "COLOUR_NAMES", "GENERATOR_VERSION", "SHAPES", "TEXTURES", "ObjectMasks", "Scene", "SyntheticSource",
    "compose_scene", "generate", "make_scene", "relations",
]
