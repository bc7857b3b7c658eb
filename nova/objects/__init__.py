"""Small value objects the driver slice passes around (Nova's attribute names)."""

from nova.objects.image_meta import ImageMeta  # noqa: F401
from nova.objects.instance import Instance  # noqa: F401
