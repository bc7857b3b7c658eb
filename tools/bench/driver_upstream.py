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

"""Benchmark driver for upstream Nova from PyPI: its ``imagebackend.Rbd.clone``.

Run by the upstream venv (``.stack/venv/upstream-nova``, built by ``run.sh``), never
by this tree's; prints one JSON object (see ``common.run``). Upstream reaches Glance
through the request context: a real Keystone token and the service catalog in the
layout keystonemiddleware hands to Nova's API, or ``[glance] api_servers`` when
``--set glance.api_servers=URL`` is given.
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    args = common.parser('Clone a Glance image with upstream Nova\'s Rbd backend'
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
        return backend.by_name(types.SimpleNamespace(uuid=disk_id), 'disk',
                               image_type='rbd')

    def clone_one(handle, disk_id, image_id):
        ctx, backend = handle
        disk(backend, disk_id).clone(ctx, image_id)

    def remove_one(handle, disk_id):
        disk(handle[1], disk_id).driver.remove_image('%s_disk' % disk_id)

    common.run(args, setup, clone_one, remove_one)


if __name__ == '__main__':
    main()
