"""Sphinx configuration for the release notes (reno), built with warnings as errors."""

extensions = ['reno.sphinxext']

project = 'nova-rbd-multistore release notes'
copyright = 'The nova-rbd-multistore team'
author = 'The nova-rbd-multistore team'

master_doc = 'index'
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['_build']
html_theme = 'alabaster'
html_static_path = []
