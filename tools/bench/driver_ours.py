"""Benchmark driver for this tree: clone through ``nova.virt.libvirt.imagebackend``.

Run by the tree's venv; prints one JSON object (see ``common.run``). Example::

    .stack/venv/nova/bin/python tools/bench/driver_ours.py hot \\
        --stack-home /tmp/stack-bench --image IMAGE_ID --count 50
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    args = common.parser('Clone a Glance image with this tree\'s Rbd backend').parse_args()
    state = common.stack_state(args.stack_home)
    common.instrument(args.glance_url or [state['glance_url']])

    from keystoneauth1.identity import v3
    from keystoneauth1 import session as ks_session

    import nova.conf
    from nova import context
    from nova.virt.libvirt import imagebackend

    conf = nova.conf.CONF
    conf(['--config-file', state['computes'][args.compute]['nova_conf']],
         project='nova', default_config_files=[])
    for group, opt, value in common.overrides(args):
        conf.set_override(opt, value, group=group or None)

    def setup():
        auth = v3.Password(auth_url=state['keystone_url'], **state['users'][args.user])
        ctx = context.RequestContext.from_auth_session(ks_session.Session(auth=auth))
        return ctx, imagebackend.Backend(conf)

    def disk(backend, disk_id):
        return backend.by_name(types.SimpleNamespace(uuid=disk_id), 'disk')

    def clone_one(handle, disk_id, image_id):
        ctx, backend = handle
        disk(backend, disk_id).clone(ctx, image_id)

    def remove_one(handle, disk_id):
        disk(handle[1], disk_id).remove()

    common.run(args, setup, clone_one, remove_one)


if __name__ == '__main__':
    main()
