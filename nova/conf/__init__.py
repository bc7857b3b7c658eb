"""Nova's configuration: one module per option group, registered once on CONF."""

from oslo_config import cfg

from nova.conf import compute
from nova.conf import glance
from nova.conf import libvirt
from nova.conf import workarounds

CONF = cfg.CONF

compute.register_opts(CONF)
glance.register_opts(CONF)
libvirt.register_opts(CONF)
workarounds.register_opts(CONF)
