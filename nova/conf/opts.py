"""Entry point for oslo-config-generator and oslo_config's sphinx extension."""

from nova.conf import compute
from nova.conf import glance
from nova.conf import libvirt
from nova.conf import workarounds

_MODULES = (compute, glance, libvirt, workarounds)


def list_opts():
    """Return ``[(group, [opts])]`` for every group this tree defines."""
    return [(group, list(opts))
            for module in _MODULES
            for group, opts in module.list_opts().items()]
