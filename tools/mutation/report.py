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

"""The mutation score per file of a finished mutmut run, and its survivors.

Run by tools/mutation.sh with the mutation venv's python, in the private
tree (where mutmut left ``mutants/``). Usage: report.py EQUIVALENT_FILE
FILE...

EQUIVALENT_FILE lists the survivors that no test can or should kill, one a
line: ``<mutant name> <fingerprint> <equivalent|log-only> <reason>``. The
fingerprint (printed next to every survivor) is a hash of the mutant's
change, so a mark stops applying when the code under it changes. The score
of a file is killed / (mutants - marked survivors); a timeout counts as
killed, a mutant no test reaches as survived; a mutant a stopped run did
not get to is "unchecked" and left out of the score.

``report.py --propose EQUIVALENT_FILE FILE...`` prints, for the unmarked
survivors whose change only touches the text of a string literal or a
function that only feeds the log, a mark to review before adding it to
EQUIVALENT_FILE.
"""

import collections
import hashlib
import io
import re
import sys
import tokenize

from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

KILLED = {'killed', 'timeout', 'caught by type check', 'segfault'}
KINDS = ('equivalent', 'log-only')


# Functions whose every result only feeds a log line.
LOG_ONLY_FUNCTIONS = ('_report', '_glance', '_warn_stalled', '_done')


def _strings(line):
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.findall(r"'[^']*'|\"[^\"]*\"", line)
    return [t.string for t in tokens if t.type == tokenize.STRING]


def _without_string_texts(line):
    """``line`` with the text of every string literal blanked."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.sub(r"'[^']*'|\"[^\"]*\"", "''", line)
    return ' '.join("''" if t.type == tokenize.STRING else t.string
                    for t in tokens if t.string.strip())


def proposal(name, diff):
    """A mark to review for a survivor, or None."""
    minus = [line[1:] for line in diff.splitlines()
             if line.startswith('-') and not line.startswith('---')]
    plus = [line[1:] for line in diff.splitlines()
            if line.startswith('+') and not line.startswith('+++')]
    function = name.rpartition('__mutmut_')[0].rpartition('.')[2]
    function = function.split('\u01c1')[-1].lstrip('x_')
    if function in {f.lstrip('_') for f in LOG_ONLY_FUNCTIONS}:
        return 'log-only', 'the function only feeds log lines'
    if (len(minus) == len(plus) and minus != plus and
            [_without_string_texts(m) for m in minus] ==
            [_without_string_texts(p) for p in plus]):
        changed = [a for m, p in zip(minus, plus)
                   for a, b in zip(_strings(m), _strings(p)) if a != b]
        # Prose has spaces; keys, statuses and methods do not.
        if changed and all(' ' in text for text in changed):
            return 'log-only', 'changes only the text of a message'
    return None


def fingerprint(diff):
    changed = [line[1:].strip() for line in diff.splitlines()
               if line[:1] in '+-' and line[:3] not in ('+++', '---')]
    return hashlib.sha1('\n'.join(changed).encode()).hexdigest()[:8]


def load_marks(path):
    marks = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.split(None, 3)
            if len(parts) < 4 or parts[2] not in KINDS:
                sys.exit('%s:%d: expected "<mutant> <fingerprint> '
                         'equivalent|log-only <reason>"' % (path, number))
            marks[parts[0]] = (parts[1], parts[2], parts[3])
    return marks


def main(argv):
    propose = argv[1:2] == ['--propose']
    if propose:
        argv = argv[1:]
    marks = load_marks(argv[1])
    used = set()
    rows = []
    survivors = []
    totals = collections.Counter()
    for path in argv[2:]:
        data = SourceFileMutationData(path=path)
        data.load()
        count = collections.Counter()
        for name, code in sorted(data.exit_code_by_key.items()):
            status = status_by_exit_code[code]
            count['mutants'] += 1
            if status == 'not checked':
                # A run stopped early: neither killed nor survived.
                count['unchecked'] += 1
                continue
            if status in KILLED:
                count['killed'] += 1
                continue
            diff = get_diff_for_mutant(name, path=path)
            fp = fingerprint(diff)
            mark = marks.get(name)
            if mark and mark[0] == fp and status == 'survived':
                used.add(name)
                count[mark[1]] += 1
                survivors.append((name, fp, status, mark, diff))
                continue
            count['survived'] += 1
            survivors.append((name, fp, status, None, diff))
        totals.update(count)
        rows.append((path, count))

    def score(c):
        counted = (c['mutants'] - c['equivalent'] - c['log-only'] -
                   c['unchecked'])
        return 100.0 * c['killed'] / counted if counted else 100.0

    if propose:
        for name, fp, status, mark, diff in survivors:
            if mark is None and status == 'survived':
                found = proposal(name, diff)
                if found:
                    print('%s %s %s %s' % (name, fp, found[0], found[1]))
        return 0
    for name, fp, status, mark, diff in survivors:
        head = '%s %s %s' % (name, fp, status)
        if mark:
            head += ' [marked %s: %s]' % (mark[1], mark[2])
        print('=' * 72)
        print(head)
        print(diff)
    print()

    def raw(c):
        checked = c['mutants'] - c['unchecked']
        return 100.0 * c['killed'] / checked if checked else 100.0

    print('%-32s %7s %6s %8s %6s %8s %9s %7s %7s' % (
        'file', 'mutants', 'killed', 'survived', 'equiv', 'log-only',
        'unchecked', 'raw', 'score'))
    for path, c in rows + [('total', totals)]:
        print('%-32s %7d %6d %8d %6d %8d %9d %6.1f%% %6.1f%%' % (
            path, c['mutants'], c['killed'], c['survived'], c['equivalent'],
            c['log-only'], c['unchecked'], raw(c), score(c)))
    stale = sorted(set(marks) - used)
    for name in stale:
        print('stale mark (no such survivor, or its change differs): %s'
              % name)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
