"""[DEFAULT] options of the compute host: who it is and where it keeps its files."""

import socket

from oslo_config import cfg

compute_opts = [
    cfg.StrOpt(
        'host',
        default=socket.gethostname(),
        sample_default='<current_hostname>',
        help="""
The name of this compute host. Instances booted here record it in their libvirt
metadata; ``nova-rbd-boot list`` and ``destroy`` only see the instances of this host.
It must be unique among the hosts that share one libvirtd.
"""),
    cfg.StrOpt(
        'state_path',
        default='/var/lib/nova',
        help="""
The top directory for Nova's state on this host; ``instances_path`` defaults to a
directory under it.
"""),
    cfg.StrOpt(
        'instances_path',
        default='$state_path/instances',
        sample_default='$state_path/instances',
        help="""
Where per-instance files live: ``<instances_path>/<uuid>/console.log`` (the serial
console, written by virtlogd) and ``<instances_path>/_base`` (images downloaded for the
flat path when an image cannot be cloned). Only root (libvirtd, virtlogd) needs to write
it.

Related options:

* state_path
"""),
    cfg.StrOpt(
        'instance_name_template',
        default='instance-%(uuid)s',
        help="""
How libvirt domains of instances are named. ``%(uuid)s`` (required) is the instance's
UUID and ``%(host)s`` this host's name. Several hosts (or test stacks) that share one
libvirtd should use distinct prefixes, for example ``siteA-%(uuid)s``; the text before
the first ``%`` also prefixes the name of the libvirt ceph secret Nova defines.
"""),
]


def register_opts(conf):
    conf.register_opts(compute_opts)


def list_opts():
    return {'DEFAULT': compute_opts}
