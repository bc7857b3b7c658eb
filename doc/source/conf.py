"""Sphinx configuration for the nova-rbd-multistore documentation.

Built with warnings as errors (tox -e docs, tools/check-docs.sh). The configuration
reference and the sample file are generated from nova.conf.opts, so option help lives
in one place: the code.
"""

import os
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, TOP)

extensions = [
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
]

# oslo_config.sphinxconfiggen writes _static/nova.conf.sample at build time; the
# sample page includes it.
config_generator_config_file = os.path.join(
    TOP, 'etc', 'nova', 'nova-config-generator.conf')
sample_config_basename = '_static/nova'

project = 'nova-rbd-multistore'
copyright = 'The nova-rbd-multistore team'
author = 'The nova-rbd-multistore team'

master_doc = 'index'
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['_build']
pygments_style = 'sphinx'

# alabaster ships with Sphinx: no theme package to pin beyond Sphinx itself.
html_theme = 'alabaster'
html_static_path = ['_static']
html_title = 'Nova RBD multistore'
