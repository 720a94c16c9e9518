#!/bin/sh
# Test vectors for lib/nexmark: nexmark-flink's own generator (its Java sources, unchanged but for the
# seeds of its random generators) prints a seeded stream as JSON lines.
#
#   scripts/nexmark-vectors/make-vectors.sh NEXMARK_CHECKOUT SEED COUNT RATE BASE_TIME_MS > vectors.jsonl
#
# Nexmark seeds nothing: its events, its channel URLs and its padding text each come from an unseeded
# SplittableRandom. Here they are seeded SEED, SEED + 1 and SEED + 2, as lib/nexmark/generator.ts seeds
# them. Needs a JDK (javac, java). The other classes the generator reads (its configuration, Flink's
# Preconditions, javax's @Nullable) are stood in by stubs/.
set -eu
checkout=$1 seed=$2 count=$3 rate=$4 base=$5
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$checkout/nexmark-flink/src/main/java/com/github/nexmark/flink
mkdir -p "$work/src/com/github/nexmark/flink"
cp -r "$src/generator" "$src/model" "$work/src/com/github/nexmark/flink/"
rm "$work/src/com/github/nexmark/flink/generator/SideInputGenerator.java"
cp -r "$here/stubs/." "$work/src/"
g=$work/src/com/github/nexmark/flink/generator
sed -i "s/new SplittableRandom()/new SplittableRandom($seed)/" "$g/NexmarkGenerator.java"
sed -i "s/new SplittableRandom()/new SplittableRandom($seed + 1)/" "$g/model/BidGenerator.java"
sed -i "s/new SplittableRandom()/new SplittableRandom($seed + 2)/" "$g/model/StringsGenerator.java"
for f in "$g/NexmarkGenerator.java" "$g/model/BidGenerator.java" "$g/model/StringsGenerator.java"; do
  grep -q "new SplittableRandom($seed" "$f" || { echo "make-vectors: $f has no unseeded SplittableRandom to seed (has the generator changed?)" >&2; exit 1; }
done
javac -nowarn -d "$work/classes" $(find "$work/src" -name '*.java') "$here/PrintEvents.java" >&2
java -cp "$work/classes" PrintEvents "$count" "$rate" "$base"
