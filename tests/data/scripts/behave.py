"""A component that behaves as its arguments say, for testing engines and the CLI.

--results TEXT     write TEXT as results.yaml (raw, unvalidated)
--report N         call pipetune.report N times with step and a metric
--print TEXT       print TEXT on stdout
--stderr TEXT      print TEXT on stderr
--exit CODE        exit with CODE
--sleep SECONDS    sleep before finishing
--spawn-sleeper    start a grandchild that sleeps, and write its pid to $PIPETUNE_OUTPUTS/child.pid
--write FILE=TEXT  write TEXT to FILE (a path, e.g. an outputPath)
--copy SRC=DST     copy the file SRC to DST
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--results")
parser.add_argument("--report", type=int, default=0)
parser.add_argument("--print", action="append", default=[])
parser.add_argument("--stderr")
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0)
parser.add_argument("--spawn-sleeper", action="store_true")
parser.add_argument("--write", action="append", default=[])
parser.add_argument("--copy", action="append", default=[])
parser.add_argument("--echo-args", action="store_true")
args, extra = parser.parse_known_args()

outputs = Path(os.environ.get("PIPETUNE_OUTPUTS", "/outputs"))
if args.echo_args:
    print("ARGS " + " ".join(sys.argv[1:]), flush=True)
if args.spawn_sleeper:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (outputs / "child.pid").write_text(str(child.pid))
for text in args.print:
    print(text, flush=True)
if args.stderr:
    print(args.stderr, file=sys.stderr, flush=True)
if args.report:
    import pipetune

    for step in range(1, args.report + 1):
        pipetune.report(step=step, score=step / 10)
for item in args.write:
    name, _, text = item.partition("=")
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(text)
for item in args.copy:
    src, _, dst = item.partition("=")
    shutil.copyfile(src, dst)
if args.results is not None:
    (outputs / "results.yaml").write_text(args.results)
if args.sleep:
    (outputs / "started").write_text("yes")
    time.sleep(args.sleep)
sys.exit(args.exit)
