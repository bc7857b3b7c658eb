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

"""Sphinx configuration of the project's own pages (doc/project).

These pages are about the repository: how the series is laid out and built,
the test stack, the gate and the benchmark. The operator documentation the
series adds to nova lives at doc/source/ and is built in the series tree by
tools/check-docs.sh. Built with warnings as errors (tox -e docs,
tools/check-docs.sh).
"""

extensions = [
    'openstackdocstheme',
]

project = 'nova-rbd-multistore'
copyright = 'The nova-rbd-multistore authors'

master_doc = 'index'
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['_build']
pygments_style = 'native'

html_theme = 'openstackdocs'
html_title = 'Nova RBD multistore series'
openstackdocs_repo_name = 'openstack/nova'
openstackdocs_auto_name = False
openstackdocs_use_storyboard = False
