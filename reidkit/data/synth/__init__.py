"""Procedural synthetic people seen by six SYSU-MM01-style cameras: the embedded default data.

Every chapter, test and demo runs on this data, on any machine, with no licence. An identity is
a set of attributes (build, skin, hair, upper and lower garment with colour, pattern and fabric,
shoes, bag, hat, glasses) drawn from ``(seed, pid)``; a few (2%) are near-duplicates that wear
another person's clothes with a different build, hair or bag. Cameras follow SYSU-MM01 (the
camera tuples of ``reidkit.data.sysu``): visible 1, 2 (indoor), 4, 5 (outdoor); infrared 3
(indoor), 6 (outdoor). Each image varies view (front / back / side), walking pose, scale and
position, background, light, blur and occlusion.

Visible images are colour. Infrared images have three identical channels, like real IR files,
and one of two physics, mixed by ``near_infrared``:

* *thermal* (``near_infrared=0``, RegDB's camera): skin is warm, clothes are as warm as their
  fabric lets body heat through (thin silk warm, a down coat cold) whatever their colour, prints
  vanish, stripes and checks show only when woven from a second fabric;
* *near-infrared* (``near_infrared=1``, SYSU-MM01's and LLCM's cameras, which light the scene
  with their own 850 nm lamps): clothes are as bright as their dyes reflect near-infrared light
  (``attributes.NIR_REFLECTANCE``), which is not their visible brightness, so prints and
  patterns show but colours cannot be read.

In both, glasses and bags look dark, backgrounds carry clutter and the sensor adds noise.

Difficulty knobs (keyword arguments of :class:`SyntheticPeople` and :class:`SynthSettings`):

* ``noise`` (0.015): sensor noise std, fraction of full range (infrared gets 1.5x).
* ``occlusion`` (0.05): chance that a pole, bench or passer-by hides part of the person.
* ``near_duplicates`` (0.02): fraction of identities dressed like another (hard negatives).
* ``blur`` (1.0): largest random blur radius in pixels at 256 px height.
* ``jitter`` (1.0): scale of the size and position jitter.
* ``thermal_detail`` (1.0): contrast between fabrics in infrared; lower makes IR harder.
* ``near_infrared`` (1.0): 0 thermal, 1 near-infrared clothing (see above); the RegDB
  layout defaults to 0. Lower makes IR->visible harder (thermal keeps no trace of colour).
* ``presence`` (0.8): chance that a camera sees a given person (one visible and one infrared
  camera always do).

Image size and the number of identities and images come from the profile
(``reidkit.profiles``: ``img_size``, ``train_ids``, ``test_ids``, ``images_per_camera``).
Rendering is deterministic: an image's random numbers come from
``SeedSequence([seed, pid, cam, index])`` and drawing is integer rasterisation, so the same
settings give the same bytes. Importing this package registers ``render_uri`` as the reader of
``synth://`` paths in :func:`reidkit.data.read_image`; recent renders are kept in a cache bounded
in bytes (:mod:`reidkit.data.synth.cache`).

Packages (bags and boxes) seen by a visible camera and an X-ray scanner, for visible-X-ray
re-identification, are a second population with their own settings (:class:`PackageSettings`:
``noise``, ``xray_noise``, ``jitter``, ``blur``, ``clutter``): what a package is
(:mod:`~reidkit.data.synth.packages`, ``exterior``, ``items``), how it projects
(``projection``), its photographs (``photo``: the outside only) and its X-ray scans
(``xray``: dual-energy pseudo-colour of everything, inside and out). An image's random numbers
come from ``SeedSequence([seed, pid, cam, index])``, camera 1 visible and 2 X-ray, and a
package from ``(seed, pid)`` alone, so the same settings give the same bytes (transcendental
functions are NumPy's: bytes can differ across NumPy builds in rare rounding cases). The
``xray`` layout of :func:`write_layout` writes them to disk.

>>> from reidkit.data.synth import SyntheticPeople
>>> people = SyntheticPeople(seed=0, profile="smoke")
>>> record = people.train_records()[0]
>>> record.path.startswith("synth://"), people.render(record.pid, record.camid).size
(True, (32, 64))
"""

from reidkit.data.records import register_reader
from reidkit.data.synth.attributes import Identity, make_identity
from reidkit.data.synth.cache import cache_info, clear_cache, set_cache_limit
from reidkit.data.synth.captions import tokens
from reidkit.data.synth.layouts import LAYOUTS, write_layout
from reidkit.data.synth.packages import Package, PackageSettings, make_package
from reidkit.data.synth.people import SyntheticPeople, image_captions, image_pose
from reidkit.data.synth.photo import VISIBLE_CAM, photo_array, photo_view
from reidkit.data.synth.render import (
    SCHEME,
    SynthSettings,
    parse_uri,
    render_array,
    render_uri,
)
from reidkit.data.synth.xray import XRAY_CAM, xray_array, xray_view
from reidkit.data.sysu import INFRARED_CAMERAS, VISIBLE_CAMERAS

register_reader(SCHEME, render_uri)  # read_image("synth://...") renders the image

__all__ = [
    "INFRARED_CAMERAS",
    "LAYOUTS",
    "SCHEME",
    "VISIBLE_CAM",
    "VISIBLE_CAMERAS",
    "XRAY_CAM",
    "Identity",
    "Package",
    "PackageSettings",
    "SynthSettings",
    "SyntheticPeople",
    "cache_info",
    "clear_cache",
    "image_captions",
    "image_pose",
    "make_identity",
    "make_package",
    "parse_uri",
    "photo_array",
    "photo_view",
    "render_array",
    "render_uri",
    "set_cache_limit",
    "tokens",
    "write_layout",
    "xray_array",
    "xray_view",
]
