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

"""Boots through the stack's Nova API, timed as a user sees them.

A boot is ``POST /servers`` (one server, or ``min_count`` of them) followed by
polling each server until it is ACTIVE and its console shows the stack's boot
marker, or it ends in ERROR, or the scenario's cap passes. Glance's requests are
counted from its uWSGI request log over the boot; its import tasks for the image
are read after it.
"""

import concurrent.futures
import threading
import time

MICROVERSION = '2.37'  # networks: 'none'
POLL = 0.25


class Nova(object):

    def __init__(self, stack, cloud, flavor_id=None):
        self.s = stack
        self.cloud = cloud
        self._flavor = flavor_id
        self.marker = stack.state.boot_marker

    def api(self, method, path, body=None, user='admin', ok=(200, 201, 202, 204)):
        resp = self.s.session(user).request(
            self.cloud['compute_url'] + path, method, json=body, raise_exc=False,
            headers={'OpenStack-API-Version': 'compute %s' % MICROVERSION})
        if resp.status_code not in ok:
            raise RuntimeError('%s %s: %s %s' % (method, path, resp.status_code,
                                                 resp.text[:500]))
        return resp

    def flavor_id(self):
        if not self._flavor:
            for flavor in self.api('GET', '/flavors').json()['flavors']:
                if flavor['name'] == self.cloud['flavor']:
                    self._flavor = flavor['id']
        return self._flavor

    def create(self, image_id, site, user='admin', count=1, name='bench'):
        """POST the server(s); returns their ids."""
        body = {'server': {'name': '%s%s' % (self.s.state.prefix, name),
                           'imageRef': image_id, 'flavorRef': self.flavor_id(),
                           'networks': 'none',
                           'availability_zone': self.cloud['availability_zones'][site]}}
        if count == 1:
            return [self.api('POST', '/servers', body, user).json()['server']['id']]
        body['server'].update(min_count=count, max_count=count,
                              return_reservation_id=True)
        rid = self.api('POST', '/servers', body, user).json()['reservation_id']
        servers = self.api('GET', '/servers?reservation_id=%s' % rid).json()['servers']
        return [s['id'] for s in servers]

    def console_has_marker(self, server_id):
        out = self.api('POST', '/servers/%s/action' % server_id,
                       {'os-getConsoleOutput': {'length': 50}}, ok=(200, 404, 409))
        return out.status_code == 200 and self.marker in (out.json().get('output') or '')

    def watch(self, ids, t0, cap):
        """Poll until every server has its marker, is in ERROR, or ``cap`` s passed.

        Returns {id: {'status', 'active', 'marker', 'error', 'fault', 'host'}}
        with times in seconds since ``t0`` (time.monotonic()).
        """
        out = {i: {'id': i, 'status': None, 'active': None, 'marker': None,
                   'error': None, 'fault': None, 'host': None} for i in ids}
        pending = set(ids)
        while pending:
            now = time.monotonic() - t0
            for i in sorted(pending):
                r = out[i]
                if r['active'] is None:
                    server = self.api('GET', '/servers/%s' % i).json()['server']
                    r['status'] = server['status']
                    r['host'] = server.get('OS-EXT-SRV-ATTR:host')
                    if server['status'] == 'ACTIVE':
                        r['active'] = time.monotonic() - t0
                    elif server['status'] == 'ERROR':
                        r['error'] = time.monotonic() - t0
                        r['fault'] = (server.get('fault') or {}).get('message')
                        pending.discard(i)
                        continue
                if r['active'] is not None and self.console_has_marker(i):
                    r['marker'] = time.monotonic() - t0
                    pending.discard(i)
            if pending and now > cap:
                for i in pending:
                    out[i]['timed_out'] = cap
                break
            time.sleep(POLL)
        return out

    def delete(self, ids, timeout=90):
        """Delete the servers and wait until Nova forgets them; the ids left."""
        for i in ids:
            self.api('DELETE', '/servers/%s' % i, ok=(204, 404, 409))
        deadline = time.monotonic() + timeout
        left = set(ids)
        while left and time.monotonic() < deadline:
            for i in sorted(left):
                if self.api('GET', '/servers/%s' % i, ok=(200, 404)).status_code == 404:
                    left.discard(i)
            time.sleep(0.5)
        return sorted(left)

    def boot(self, image_id, site, user='admin', count=1, cap=300, keep=False,
             concurrent_with=None, delete_timeout=90):
        """One timed boot; the record the report reads.

        ``concurrent_with``: a list of (site, user) to create at the same moment
        (each in its own thread); their servers join this record.
        """
        wall0 = time.time()
        offset = self.s.glance_log_offset()
        t0 = time.monotonic()
        placed = {}
        if concurrent_with:
            barrier = threading.Barrier(len(concurrent_with))

            def create(where):
                barrier.wait()
                return self.create(image_id, where[0], where[1], name='race')

            with concurrent.futures.ThreadPoolExecutor(len(concurrent_with)) as pool:
                for where, ids in zip(concurrent_with,
                                      pool.map(create, concurrent_with)):
                    for i in ids:
                        placed[i] = where[0]
        else:
            for i in self.create(image_id, site, user, count):
                placed[i] = site
        created = time.monotonic() - t0
        servers = self.watch(list(placed), t0, cap)
        end = time.monotonic() - t0
        requests = self.s.glance_requests(offset)
        tasks = [t for t in self.s.tasks(image_id) if t['t_created'] >= wall0 - 1]
        for i, r in servers.items():
            r['site'] = placed[i]
            r['parent'] = self.s.disk_parent(placed[i], '%s_disk' % i)
        record = {'image': image_id, 'site': site, 'user': user, 'count': count,
                  'created': created, 'seconds': end, 'glance_requests': requests,
                  'tasks': [{'status': t['status'], 'message': t.get('message'),
                             'id': t['id'],
                             'seconds': t['t_updated'] - t['t_created'],
                             # when Glance made the task, from the POST
                             'start': t['t_created'] - wall0,
                             'input': t.get('input')}
                            for t in tasks],
                  'servers': [servers[i] for i in placed]}
        if not keep:
            # A server still building may hold its compute's instance lock
            # (upstream waits up to 600 s for a failed copy): do not wait for it.
            record['not_deleted'] = self.delete(list(placed), delete_timeout)
        return record
