"""The Glance image fields the driver decides on."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ImageMeta(object):
    id: str
    name: str = None
    disk_format: str = None
    container_format: str = None
    size: int = None
    status: str = None
    min_disk: int = 0
    stores: tuple = ()

    @classmethod
    def from_dict(cls, image):
        """Build from the plain dict ``nova.image.glance.API().show()`` returns."""
        stores = image.get('stores') or ''
        if isinstance(stores, str):
            stores = [s for s in stores.split(',') if s]
        return cls(id=image['id'], name=image.get('name'),
                   disk_format=image.get('disk_format'),
                   container_format=image.get('container_format'),
                   size=image.get('size'), status=image.get('status'),
                   min_disk=image.get('min_disk') or 0, stores=tuple(stores))
