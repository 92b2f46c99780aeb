#!/usr/bin/python3
"""Put the tables of make bench's results file (docs/bench/results.json)
into README.md, between its two bench markers, each with when, where and
on which commits it was measured.  bench.py runs this at its end."""

import json
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(TOP, 'docs', 'bench', 'results.json')
README = os.path.join(TOP, 'README.md')
BEGIN = '<!-- bench: begin (make bench writes this, from docs/bench/results.json) -->'
END = '<!-- bench: end -->'
ORDER = ('startup', 'instructions', 'add', 'hotplug', 'many', 'kvm',
         'patches', 'landed')


def block(results):
    out = [BEGIN]
    for name in ORDER:
        if name not in results:
            continue
        r = results[name]
        m = r['machine']
        out += ['', f'`{name}`: {r["date"]}, {m["cpu"]}, {m["cores"]} cores;'
                f' repository {r["commit"]}, series {r["series"]}'
                + (f' (tree {r["series_tree"]})' if 'series_tree' in r
                   else ''), '',
                '```', r['table'], '```']
    out.append(END)
    return '\n'.join(out)


def main():
    with open(RESULTS, encoding='utf-8') as f:
        results = json.load(f)
    with open(README, encoding='utf-8') as f:
        text = f.read()
    pat = re.compile(re.escape(BEGIN) + '.*?' + re.escape(END), re.S)
    if not pat.search(text):
        sys.exit(f'{README} has no bench markers')
    text = pat.sub(lambda _: block(results), text)
    with open(README, 'w', encoding='utf-8') as f:
        f.write(text)


if __name__ == '__main__':
    main()
