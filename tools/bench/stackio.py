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

"""The benchmark's own I/O against the stack: images, tasks, Glance's log, Ceph caps.

Everything here acts as the stack's admin and is the benchmark's scaffolding, not code
under test.
"""

import datetime
import os
import subprocess
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class Stack(object):
    """The running stack of ``home`` as the benchmark uses it."""

    def __init__(self, state, work_dir):
        from nova.tests.live.fixtures import stack
        self.state = state
        self.work = work_dir
        self._fixture = stack.SharedStackFixture(state.home)
        self._fixture.setUp()

    def close(self):
        self._fixture.cleanUp()

    def session(self, user='admin'):
        return self._fixture.session(user)

    # --- images ---------------------------------------------------------------

    def glance(self, user='admin'):
        return self._fixture.glance(user)

    def data_file(self, size_mib):
        """A raw disk of ``size_mib`` MiB: the stack's boot disk, then random bytes.

        Random data so that neither Glance nor Ceph can skip it as zeros. The boot
        disk gets the partition entry Glance's safety check wants.
        """
        from nova.tests.live import test_cloud_boot
        path = os.path.join(self.work, 'disk-%d.raw' % size_mib)
        if not os.path.exists(path):
            boot = test_cloud_boot.bootable(self.state.boot_image)
            with open(path + '.tmp', 'wb') as f:
                f.write(boot)
                left = size_mib * 1024 * 1024 - len(boot)
                while left > 0:
                    n = min(left, 8 * 1024 * 1024)
                    f.write(os.urandom(n))
                    left -= n
            os.replace(path + '.tmp', path)
        return path

    def upload(self, size_mib, store, user='admin', visibility='public', name='bench'):
        client = self.glance(user)
        image = client.images.create(name='%s%s-%dM' % (self.state.prefix, name, size_mib),
                                     disk_format='raw', container_format='bare',
                                     visibility=visibility)
        path = self.data_file(size_mib)
        with open(path, 'rb') as f:
            client.images.upload(image['id'], f, image_size=os.path.getsize(path),
                                 backend=store)
        deadline = time.monotonic() + 300
        while client.images.get(image['id'])['status'] != 'active':
            if time.monotonic() > deadline:
                raise RuntimeError('image %s never became active' % image['id'])
            time.sleep(0.1)
        return image['id']

    def delete_image(self, image_id):
        from glanceclient import exc
        for attempt in range(6):
            try:
                self.glance().images.delete(image_id)
                return
            except exc.HTTPNotFound:
                return
            except (exc.HTTPInternalServerError, exc.HTTPConflict):
                # SQLite "database is locked", or an import still holds the image.
                time.sleep(1 + attempt)
        LOG.warning('could not delete image %s', image_id)

    def delete_from_store(self, image_id, store):
        """Take the image out of ``store`` (if there) so that the next clone is cold."""
        sess = self._fixture.session('admin')
        url = '%s/v2/stores/%s/%s' % (self.state.glance_url, store, image_id)
        for attempt in range(8):
            if store not in self.stores(image_id):
                return
            resp = sess.delete(url, raise_exc=False, headers={'Accept': 'application/json'})
            if resp.status_code in (204, 404):
                return
            # 409 while an import still holds the image; 500 on SQLite locks.
            time.sleep(1 + attempt)
        raise RuntimeError('cannot delete %s from store %s: HTTP %s %s'
                           % (image_id, store, resp.status_code, resp.text[:300]))

    def stores(self, image_id):
        image = self.glance().images.get(image_id)
        return [s for s in (image.get('stores') or '').split(',') if s]

    def tasks(self, image_id):
        """The image's import tasks, oldest first, with parsed times."""
        sess = self._fixture.session('admin')
        resp = sess.get('%s/v2/images/%s/tasks' % (self.state.glance_url, image_id),
                        headers={'Accept': 'application/json'})
        out = []
        for task in resp.json().get('tasks', []):
            task['t_created'] = _parse_time(task['created_at'])
            task['t_updated'] = _parse_time(task['updated_at'])
            out.append(task)
        return sorted(out, key=lambda t: t['t_created'])

    def task_cause(self, task_ids):
        """What Glance's log says made these tasks fail (the API only says "Internal")."""
        causes = []
        with open(self.state.glance_log, errors='replace') as f:
            for line in f:
                for task_id in task_ids:
                    if 'Task %s failed with exception' % task_id in line:
                        causes.append(line.split(' [-] ', 1)[-1].strip())
        return sorted(set(causes))

    # --- Glance's request log -------------------------------------------------

    def glance_request_log(self):
        """uWSGI's request log of the stack's Glance (``logto`` of its ini)."""
        with open(os.path.join(self.state.run_dir, 'glance', 'uwsgi.ini')) as f:
            for line in f:
                if line.startswith('logto'):
                    return line.split('=', 1)[1].strip()
        raise RuntimeError('Glance\'s uwsgi.ini has no logto')

    def glance_log_offset(self):
        return os.path.getsize(self.glance_request_log())

    def glance_requests(self, since_offset):
        """Requests Glance answered since ``since_offset`` of its request log."""
        with open(self.glance_request_log(), 'rb') as f:
            f.seek(since_offset)
            return count_requests(f.read().decode('utf-8', 'replace'))

    # --- Glance's processes ---------------------------------------------------

    def glance_master(self):
        from nova.tests.live.fixtures import process
        found = [d for d in process.recorded(os.path.join(self.state.run_dir, 'pids'))
                 if d.name == 'glance' and d.alive()]
        if not found:
            raise RuntimeError('Glance is not running')
        return found[0]

    def disk_parent(self, site, name):
        """``pool/image@snap`` a disk in ``site``'s vms pool is cloned from; '' if flat.

        None when the disk does not exist.
        """
        out = subprocess.run(['timeout', '30', 'rbd', '-c',
                              self.state.sites[site]['admin_conf'], 'info',
                              '%s/%s' % (self.state.sites[site]['vms_pool'], name)],
                             capture_output=True, text=True)
        if out.returncode:
            return None
        for line in out.stdout.splitlines():
            if line.strip().startswith('parent:'):
                return line.split(':', 1)[1].strip()
        return ''

    # --- Ceph ---------------------------------------------------------------------

    def ceph(self, site, *args):
        conf = self.state.sites[site]['admin_conf']
        return subprocess.run(['timeout', '30', 'ceph', '-c', conf] + list(args),
                              check=True, capture_output=True, text=True).stdout

    def caps(self, site, client):
        """``ceph auth get`` caps of ``client`` as a flat list for ``ceph auth caps``."""
        out = self.ceph(site, 'auth', 'get', client)
        caps = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith('caps '):
                key, _, value = line[len('caps '):].partition('=')
                caps += [key.strip(), value.strip().strip('"')]
        return caps

    def set_caps(self, site, client, caps):
        self.ceph(site, 'auth', 'caps', client, *caps)

    def sweep_vms(self):
        """Remove every disk left in the ``vms`` pools (the stack is the benchmark's)."""
        import rados
        import rbd
        left = []
        for site, s in self.state.sites.items():
            cluster = rados.Rados(conffile=s['admin_conf'], name='client.admin')
            cluster.connect(timeout=15)
            try:
                with cluster.open_ioctx(s['vms_pool']) as ioctx:
                    for name in rbd.RBD().list(ioctx):
                        left.append('%s/%s' % (site, name))
                        rbd.RBD().remove(ioctx, name)
            finally:
                cluster.shutdown()
        return left


def _parse_time(text):
    text = text.replace('Z', '+00:00')
    return datetime.datetime.fromisoformat(text).timestamp()


def count_requests(text):
    """Request lines in a uWSGI request log excerpt (``... GET /v2/... => ...``)."""
    return sum(1 for line in text.splitlines()
               if line.startswith('[pid: ') and ' => generated ' in line
               and '] GET /healthcheck ' not in line)
