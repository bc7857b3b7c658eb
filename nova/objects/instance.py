"""An instance as the driver sees it: what to boot, how big, on which host."""

import dataclasses
import uuid as uuidlib


@dataclasses.dataclass
class Instance(object):
    """The fields of Nova's Instance object that the libvirt driver slice reads.

    ``name`` is the libvirt domain name (from ``[DEFAULT] instance_name_template``);
    ``display_name`` is what the user called it.
    """

    uuid: str
    name: str
    image_ref: str
    root_gb: int
    memory_mb: int = 64
    vcpus: int = 1
    host: str = None
    display_name: str = None

    @classmethod
    def new(cls, name_template, image_ref, root_gb, host, display_name=None,
            memory_mb=64, vcpus=1):
        """A new instance with a fresh UUID and its domain name from the template."""
        instance_uuid = str(uuidlib.uuid4())
        name = name_template % {'uuid': instance_uuid, 'host': host}
        return cls(uuid=instance_uuid, name=name, image_ref=image_ref, root_gb=root_gb,
                   memory_mb=memory_mb, vcpus=vcpus, host=host,
                   display_name=display_name or name)
