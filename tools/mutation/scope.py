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

"""Mark what the mutation run leaves alone, in the private tree only.

Usage: scope.py FILE... (rewritten in place; tools/mutation.sh runs it on
its private copy, never on the repository). A ``# pragma: no mutate``
comment (mutmut's) is appended to every line of:

* log statements (``LOG.debug/info/warning/...``): log-only by definition;
* prose: a line holding a string literal with a space in it (reasons and
  error texts; the tests check the words an operator acts on, mutating
  every word would drown the decisions in message-only survivors);
* the functions in SKIP (per file): Ceph and credential plumbing, Glance
  clients, reason texts and precaching, outside the decision core. Their
  header line gets ``# pragma: no mutate block`` too: mutmut 3 reads a
  comment that ends a multi-line statement as a mark of the statement's
  first line only, so a line-by-line mark leaves the statement's last line
  mutated; ``block`` leaves the whole function alone.
"""

import ast
import io
import sys
import tokenize

PRAGMA = '  # pragma: no mutate'
BLOCK = '  # pragma: no mutate block'
# A log statement's lines: tools/mutation.sh gives mutmut the pattern
# LOG_ONLY_PATTERN (do_not_mutate_patterns), which leaves alone every
# expression that starts on such a line, its last line included.
LOG_ONLY = '  # pragma: no mutate, log only'
LOG_ONLY_PATTERN = 'no mutate, log only$'
SKIP = {
    # Everything but location parsing.
    'rbd_multistore.py': {
        '_connect_to_rados', '_disconnect_from_rados', '_user_name',
        '_conf_name', '_storage_error', '_ceph_reason', 'get_cluster_fsid',
        'cluster_fsid', 'is_cloneable', 'why_not_cloneable',
        '_why_not_cloneable', 'copy_progress', '_written_bytes',
        'allocated_bytes', '_clone_v2', '_meta_get', '_describe'},
    # Construction and precaching, not the copy and wait path.
    'rbd_glance.py': {'__init__', '_copier', 'cache_image'},
    # Credentials, clients and plumbing, not the error mapping.
    'glance_multistore.py': {
        '_copy_credentials_mode', '_user_credentials',
        '_service_credentials', '_credentials', '_readers', '_location',
        '_locations', '_task', '_tasks', '_stores', '_multistore_call',
        '_bounded_client_wrapper', 'is_transient', '_unexpected', '_expect',
        'image_import', 'get_image_tasks', 'get_store_detail',
        'read_image'},
}


def _header_end(source, node):
    """The line of the colon that ends a function's signature."""
    depth = 0
    lines = source.splitlines(keepends=True)[node.lineno - 1:]
    for tok in tokenize.generate_tokens(iter(lines).__next__):
        if tok.type == tokenize.OP and tok.string in '([{':
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ')]}':
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ':' and not depth:
            return node.lineno + tok.start[0] - 1
    return node.lineno


def _skipped_lines(source, skip=()):
    """(lines to mark, header lines of the functions left alone, lines of
    log statements).
    """
    lines = set()
    headers = set()
    logs = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in skip:
                lines.update(range(node.lineno, node.end_lineno + 1))
                headers.add(_header_end(source, node))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (isinstance(func, ast.Attribute) and
                    isinstance(func.value, ast.Name) and
                    func.value.id == 'LOG'):
                logs.update(range(node.lineno, node.end_lineno + 1))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and ' ' in tok.string:
            if tok.start[0] == tok.end[0]:
                lines.add(tok.start[0])
    return lines, headers, logs


def _commentable(source):
    """Lines that end outside a string (a comment can be appended)."""
    ok = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.NEWLINE, tokenize.NL):
            ok.add(tok.start[0])
    return ok


def main(paths):
    for path in paths:
        with open(path) as f:
            source = f.read()
        names = SKIP.get(path.rpartition('/')[2], ())
        lines, headers, logs = _skipped_lines(source, names)
        commentable = _commentable(source)
        skip = lines & commentable
        logs &= commentable
        out = []
        for number, line in enumerate(source.splitlines(), 1):
            if number in headers and '#' not in line:
                line += BLOCK
            elif number in logs and line.strip() and '#' not in line:
                line += LOG_ONLY
            elif number in skip and line.strip() and '#' not in line:
                line += PRAGMA
            out.append(line)
        with open(path, 'w') as f:
            f.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
