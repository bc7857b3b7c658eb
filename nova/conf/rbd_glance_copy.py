# Copyright 2026 The nova-rbd-multistore authors
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Options of the RBD backend's copy of images into a Glance store.

The options this feature shares with the rest of Nova
(``[libvirt] images_rbd_glance_store_name``,
``images_rbd_glance_copy_poll_interval``, ``images_rbd_glance_copy_timeout``
and ``[workarounds] never_download_image_if_on_rbd``) stay where they are
defined; this module adds only the options the copy needs beyond them, in
the groups an operator already uses for it.
"""

from oslo_config import cfg

from nova.conf import glance
from nova.conf import libvirt

COPY_CREDENTIALS_AUTO = 'auto'
COPY_CREDENTIALS_USER = 'user'
COPY_CREDENTIALS_SERVICE = 'service'

libvirt_opts = [
    cfg.IntOpt('images_rbd_glance_copy_retries',
               default=2,
               min=0,
               help="""
How many more times Nova asks Glance to copy an image into
``images_rbd_glance_store_name`` after Glance reports that the copy failed
(the store is listed in the image's ``os_glance_failed_import`` once Nova's
own request has run). Retries wait 2, 4, 8... seconds before asking again and
share ``images_rbd_glance_copy_timeout``. ``0`` fails the boot at the first
failed copy. A failure marker left by an earlier attempt does not count: Nova
simply asks for the copy again.

Possible values:

* 0 or a positive integer: the number of further copy requests

Related options:

* images_type - must be set to ``rbd``
* images_rbd_glance_store_name - must be set to a store name
* images_rbd_glance_copy_timeout - bounds the wait, retries included
"""),
    cfg.IntOpt('images_rbd_glance_copy_stall_timeout',
               default=120,
               min=90,
               help="""
Seconds after which a Glance import task that holds the image is taken for
dead. A Glance API worker that dies in the middle of a copy leaves its task
``processing`` and the image's import lock held for an hour after the task's
last update (two hours while it is ``pending``); Glance refuses every other
import of the image meanwhile. While a copy writes into a store, Glance
updates its task at least every 60 seconds, so when the task holding the
image was last updated longer ago than this, and nothing changed in Glance or
in the store's pool for 10 seconds while Nova watched, the boot fails at once
(as ImageUnacceptable, so Nova downloads the image unless
``[workarounds] never_download_image_if_on_rbd`` is set) with a message that
names the task, its age, when Glance will release its lock and what to do.
A later boot of the same image recognises the dead task from its age within
about 10 seconds. Glance does not update the task while it first copies the
whole image into its staging area (the task's message stays empty until it
writes "Copied N MiB"), so a processing task without a message, whose image
Nova has not seen in the store's pool yet, gets the time staging the image
takes at 10 MiB/s on top of this (102 seconds for 1 GiB).
Nova reads the task as its service user, which needs the
``reader`` role for it (Glance shows a task to its own project and to
admins); while Nova cannot read the task, the boot logs a warning after this
long without progress, repeated every such period, and waits until
``images_rbd_glance_copy_timeout``.

Possible values:

* An integer of at least 90: seconds (more than the 60 seconds between two
  updates of a running Glance task)

Related options:

* images_rbd_glance_store_name - must be set to a store name
* images_rbd_glance_copy_timeout - the whole boot's deadline, counted from
  when it asks for the image, Nova's per-image lock and every Glance request
  included
* [glance] copy_credentials - Nova's service user can read other projects'
  import tasks
"""),
]

glance_opts = [
    cfg.StrOpt('copy_credentials',
               default=COPY_CREDENTIALS_AUTO,
               choices=(
                   (COPY_CREDENTIALS_AUTO,
                    'Nova\'s service user from the [service_user] auth '
                    'options when they are configured, with the booting '
                    'user\'s token for images Glance hides from the '
                    'service user; else the booting user\'s token'),
                   (COPY_CREDENTIALS_USER,
                    'always the booting user\'s token (with Nova\'s service '
                    'token beside it when [service_user] '
                    'send_service_user_token is set)'),
                   (COPY_CREDENTIALS_SERVICE,
                    'always Nova\'s service user; a copy fails with an error '
                    'naming [service_user] when it has no auth options'),
               ),
               help="""
Whose credentials Nova uses to ask Glance to copy an image into
``[libvirt] images_rbd_glance_store_name``, and to read the image's
locations, its import tasks and the store's details while it waits for the
copy.

Glance's default policy allows ``copy_image`` to admins only and shows image
locations to the ``service`` and ``admin`` roles only. With ``auto`` and
``service``, Nova makes these calls as its service user, configured by the
keystoneauth options of the ``[service_user]`` group (``auth_type``,
``auth_url``, ``username``...); give that user the ``service`` and
``reader`` roles and allow ``role:service`` in Glance's ``copy_image``
policy. Glance hides other projects' private and shared images from every
caller but admins, whatever its policy says: for those, Nova reads the
locations and tasks with the booting user's token instead, and with ``auto``
asks for the copy with it too (``service`` fails the copy). That token
carries Nova's service token when ``[service_user] send_service_user_token``
is set, so that Glance's policy can allow such requests with
``service_roles:service`` (for ``copy_image`` and ``fetch_image_location``).
``user`` always uses the booting user's token. Nova always reads the image
with the booting user's own token first, so a user can only cause copies of
images they can already see; a copy changes neither the image's owner nor
its visibility.

Related options:

* [libvirt] images_rbd_glance_store_name - must be set to a store name
* [service_user] auth_type and the other keystoneauth options of that group
"""),
]


def register_opts(conf):
    conf.register_opts(libvirt_opts, group=libvirt.libvirt_group)
    conf.register_opts(glance_opts, group=glance.glance_group)


def list_opts():
    # The same group objects as nova.conf.libvirt and nova.conf.glance use,
    # so that nova.conf.opts merges these options into those sections.
    return {
        libvirt.libvirt_group: libvirt_opts,
        glance.glance_group: glance_opts,
    }
