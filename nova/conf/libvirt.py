"""[libvirt] options of the image backend slice: RBD storage and the Glance copy."""

from oslo_config import cfg

from nova.conf import utils

libvirt_group = cfg.OptGroup(
    'libvirt',
    title='Libvirt options',
    help='Options for the libvirt driver and its image backends.')

image_opts = [
    cfg.StrOpt(
        'images_type',
        default='default',
        choices=('raw', 'flat', 'qcow2', 'lvm', 'rbd', 'ploop', 'default'),
        help="""
Where instance disks live. ``rbd`` puts them in the Ceph pool named by
``images_rbd_pool``; a Glance image that already has a location in the same cluster is
then cloned copy-on-write instead of being downloaded. This tree implements only
``rbd``; the other values exist so that a nova.conf written for upstream Nova loads.

Related options:

* images_rbd_pool, images_rbd_ceph_conf, rbd_user, rbd_secret_uuid
* images_rbd_glance_store_name
"""),
]

rbd_opts = [
    cfg.StrOpt(
        'images_rbd_pool',
        default='rbd',
        help="""
The Ceph pool that holds instance disks (for example ``vms``). The ``rbd_user`` must be
able to create, write and remove images in it.
"""),
    cfg.StrOpt(
        'images_rbd_ceph_conf',
        default='',
        help="""
Path to the ceph.conf of this compute host's cluster; empty means librados' default
search (``/etc/ceph/ceph.conf``). The ``rbd_user``'s keyring is found through the
``keyring`` setting of that file.
"""),
    cfg.StrOpt(
        'rbd_user',
        help="""
The cephx user (without ``client.``) that Nova connects to Ceph as, for example
``nova``. It needs ``profile rbd`` on ``images_rbd_pool`` and at least read access
(``profile rbd-read-only``) to the pool of the Glance store it clones from.
"""),
    cfg.StrOpt(
        'rbd_secret_uuid',
        help="""
The UUID of the libvirt secret (usage type ``ceph``) that holds ``rbd_user``'s key;
guests' RBD disks authenticate with it.
"""),
    cfg.IntOpt(
        'rbd_connect_timeout',
        default=5,
        min=1,
        help="""
Seconds to wait for the Ceph monitors when connecting. A compute host whose cluster is
down fails the boot after this long with an error naming the ceph.conf.
"""),
    cfg.StrOpt(
        'images_rbd_glance_store_name',
        default='',
        help="""
The Glance store (one of Glance's ``enabled_backends``) that lives in this compute
host's Ceph cluster, for example ``site_a``. When an image to boot has no location in
this cluster, Nova asks Glance to copy it into this store (the ``copy-image`` import
method), waits for the copy, and then clones it copy-on-write. Empty disables the copy:
such images are downloaded and imported flat, unless
``[workarounds] never_download_image_if_on_rbd`` refuses that.

Related options:

* images_rbd_glance_copy_poll_interval, images_rbd_glance_copy_timeout,
  images_rbd_glance_copy_retries
* [glance] copy_credentials and the [glance] auth options
"""),
    cfg.IntOpt(
        'images_rbd_glance_copy_poll_interval',
        default=15,
        min=1,
        help="""
The longest gap, in seconds, between two requests to Glance while Nova waits for an
image copy. Nova starts by asking every quarter second and backs off towards this value;
it also watches the store's pool in Ceph, so it notices a finished copy within about
half a second whatever this is set to. Lower it only to notice failures sooner; it
costs Glance requests.

Related options:

* images_rbd_glance_copy_timeout
"""),
    cfg.IntOpt(
        'images_rbd_glance_copy_timeout',
        default=600,
        min=1,
        help="""
Seconds Nova waits for Glance to copy an image into ``images_rbd_glance_store_name``
before failing the boot. Size it for your largest image: Glance copies roughly at the
speed of reading the source store plus writing the target pool. Waiting for an import
that another host started counts against the same budget.
"""),
    cfg.IntOpt(
        'images_rbd_glance_copy_retries',
        default=2,
        min=0,
        help="""
How many more times Nova asks Glance to copy an image after Glance reports that the copy
to ``images_rbd_glance_store_name`` failed (the store shows in the image's
``os_glance_failed_import``). Retries back off (2, 4, 8... seconds) and share
``images_rbd_glance_copy_timeout``. 0 fails the boot at the first failure.
"""),
    cfg.IntOpt(
        'images_rbd_glance_copy_stall_timeout',
        default=120,
        min=5,
        help="""
Seconds without visible progress (no new data in the store's pool, no change in Glance)
after which Nova logs a warning naming the Glance import task that holds the image. A
Glance worker that died mid-copy keeps the image locked for up to an hour; this tells
the operator which task to look at instead of waiting silently. The warning repeats
every such period; the boot still fails only at ``images_rbd_glance_copy_timeout``.
"""),
]

driver_opts = [
    cfg.StrOpt(
        'virt_type',
        default='kvm',
        choices=('kvm', 'qemu'),
        help="""
The libvirt domain type of guests. ``kvm`` needs hardware virtualization (``/dev/kvm``
usable by libvirt's QEMU); ``qemu`` emulates the CPU (TCG), slower but works anywhere,
for example in nested or container test environments.

Related options:

* connection_uri
"""),
    cfg.StrOpt(
        'connection_uri',
        default='',
        help="""
The libvirt URI to manage guests through. Empty means the default for ``virt_type``,
``qemu:///system``.
"""),
]

ALL_OPTS = image_opts + rbd_opts + driver_opts


def register_opts(conf):
    utils.register_group(conf, libvirt_group, ALL_OPTS)


def list_opts():
    return {libvirt_group: ALL_OPTS}
