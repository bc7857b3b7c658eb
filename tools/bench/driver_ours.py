# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Benchmark driver for the series: nova 34.0.0 with our commits applied.

Run by the venv the patched tree is installed in (``.stack/venv/nova``, made by
``tools/series.sh build``); prints one JSON object (see ``common.run``). It calls what
nova-compute calls: ``imagebackend.Backend(use_cow=True).by_name(instance, 'disk',
'rbd').clone(context, image_id)``, which the series makes the
``nova.virt.libvirt.rbd_glance.Rbd`` backend. Example::

    .stack/venv/nova/bin/python tools/bench/driver_ours.py hot \\
        --stack-home .stack/bench-stack --image IMAGE_ID --count 50
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    args = common.parser('Clone a Glance image with the series\' Rbd backend'
                         ).parse_args()
    state = common.stack_state(args.stack_home)
    common.instrument(args.glance_url or [state['glance_url']])

    import nova.conf
    from nova import objects
    from nova.virt.libvirt import imagebackend

    objects.register_all()
    conf = nova.conf.CONF
    conf(['--config-file', state['computes'][args.compute]['nova_conf']],
         project='nova', default_config_files=[])
    for group, opt, value in common.overrides(args):
        if opt == 'api_servers':
            value = value.split(',')
        conf.set_override(opt, value, group=group or None)

    def setup():
        return (common.user_context(state, args.user),
                imagebackend.Backend(use_cow=True))

    def disk(backend, disk_id):
        return backend.by_name(types.SimpleNamespace(uuid=disk_id), 'disk', 'rbd')

    def clone_one(handle, disk_id, image_id):
        ctx, backend = handle
        disk(backend, disk_id).clone(ctx, image_id)

    def remove_one(handle, disk_id):
        disk(handle[1], disk_id).driver.remove_image('%s_disk' % disk_id)

    common.run(args, setup, clone_one, remove_one)


if __name__ == '__main__':
    main()
