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

"""The admin guide's checks, run as written against the stack's cloud.

Every ``guide-check`` command of ``doc/source/admin/rbd-glance-multistore.rst``
runs in order in bash, with the guide's shell variables and a ``clouds.yaml``
holding the guide's ``admin``, ``nova`` and ``demo`` entries, as an operator on
a compute host of site A would run them; each must succeed and print what the
guide shows. The last ones boot the demo project's private image in site A
through Nova's API: its root disk must be an RBD clone of the image's snapshot
in site A's images pool.
"""

import os
import subprocess
import sys
import tempfile

from nova.tests.live.fixtures import guide
from nova.tests.live.fixtures import keystone_api
from nova.tests.live import test_cloud_boot

bootable = test_cloud_boot.bootable
COMMAND_TIMEOUT = 360
# Run after each command: keep the variables it set for the next one.
_KEEP = 'rc=$?; export -p > "$GUIDE_STATE.new"; mv "$GUIDE_STATE.new" "$GUIDE_STATE"; exit $rc'


class AdminGuideTest(test_cloud_boot.CloudTestCase):

    def clouds_yaml(self, path):
        lines = ['clouds:']
        for name in ('admin', 'nova', 'demo'):
            user = self.state.users[name]
            lines += ['  %s:' % name,
                      '    region_name: %s' % keystone_api.REGION,
                      '    identity_api_version: 3',
                      '    auth:',
                      '      auth_url: %s' % self.state.keystone_url]
            lines += ['      %s: %s' % (k, user[k]) for k in (
                'username', 'password', 'project_name', 'user_domain_name',
                'project_domain_name')]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def environment(self, tmp):
        site = self.state.sites['site_a']
        compute = [c for c in self.cloud['computes'].values()
                   if c['site'] == 'site_a'][0]
        self.clouds_yaml(os.path.join(tmp, 'clouds.yaml'))
        image_file = os.path.join(tmp, 'cirros.raw')
        with open(image_file, 'wb') as f:
            f.write(bootable(self.state.boot_image))
        # The openstack client of the venv the tests run in.
        venv_bin = os.path.dirname(sys.executable)
        env = {
            'PATH': '%s:/usr/sbin:/usr/bin:/sbin:/bin' % venv_bin,
            'HOME': tmp, 'LANG': 'C.UTF-8',
            'OS_CLIENT_CONFIG_FILE': os.path.join(tmp, 'clouds.yaml'),
            'LIBVIRT_DEFAULT_URI': compute['libvirt_uri'],
            'GUIDE_STATE': os.path.join(tmp, 'state'),
            # The guide's variables (its prerequisites).
            'FLAVOR': self.cloud['flavor'],
            'IMAGE_FILE': image_file,
            'CEPH_CONF': site['nova_ceph_conf'],
            'CEPH_ADMIN_CONF': site['admin_conf'],
            'SECRET_UUID': site['secret_uuid'],
        }
        return env

    def run_command(self, command, env, tmp):
        script = os.path.join(tmp, 'command.sh')
        with open(script, 'w') as f:
            f.write('set -a -o pipefail\n'
                    '[ -f "$GUIDE_STATE" ] && . "$GUIDE_STATE"\n'
                    'cd "$HOME"\n%s\n%s\n' % (command.text, _KEEP))
        return subprocess.run(['bash', script], env=env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT)

    def variable(self, name, env):
        out = subprocess.run(
            ['bash', '-c', '. "$GUIDE_STATE"; printf %s "${%s:-}"' % ('%s', name)],
            env=env, capture_output=True, text=True, timeout=30)
        return out.stdout

    def cleanup(self, env):
        server = self.variable('SERVER', env)
        if server:
            self.delete(server)
        image = self.variable('IMAGE', env)
        if image:
            self.stack._delete_image(image)

    def test_the_guides_checks_pass_and_boot_a_site_local_clone(self):
        commands = guide.checks()
        self.assertGreater(len(commands), 10)
        with tempfile.TemporaryDirectory() as tmp:
            env = self.environment(tmp)
            self.addCleanup(self.cleanup, env)
            for command in commands:
                result = self.run_command(command, env, tmp)
                where = 'guide line %d: $ %s' % (command.line, command.text)
                self.assertEqual(0, result.returncode, '%s\nexit %d\n%s%s' % (
                    where, result.returncode, result.stdout, result.stderr))
                if command.expected:
                    self.assertTrue(
                        guide.output_matches(command.expected, result.stdout),
                        '%s\nprinted:\n%s\nthe guide shows:\n%s' % (
                            where, result.stdout, '\n'.join(command.expected)))
            image_id = self.variable('IMAGE', env)
            server_id = self.variable('SERVER', env)
            # What the guide's last check showed, read from Ceph itself: the
            # root disk is a clone of the image's snapshot in site A's pool.
            _data, parent = self.read_disk('site_a', '%s_disk' % server_id, 512)
            self.assertEqual(('images', image_id, 'snap'), parent)
            # While the state file still names them.
            self.cleanup(env)
