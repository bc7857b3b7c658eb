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

"""pytest glue for the mutation run (tools/mutation.sh copies it to the
root of a private tree; it is never part of the series).

Nova's tests run under stestr; mutmut drives pytest. pytest's unittest
support sets the test method on the instance and deletes it afterwards,
while ``nova.test.TestCase`` deletes every public instance attribute at
cleanup: the test method is kept so that both work.
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', 'True')

# nova.tests.unit patches (or poisons) eventlet before anything imports it.
import nova.tests.unit  # noqa: E402,F401
from nova import test  # noqa: E402,H306

_clear_attrs = test.TestCase._clear_attrs


def _clear_attrs_keeping_the_test(self):
    method = self.__dict__.get(self._testMethodName)
    _clear_attrs(self)
    if method is not None:
        self.__dict__[self._testMethodName] = method


test.TestCase._clear_attrs = _clear_attrs_keeping_the_test
