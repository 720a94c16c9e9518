// Draws of java.util.SplittableRandom for a few seeds, as JSON: [seed, nextInt() × 8, nextInt(bound) × 16
// over the bounds 1, 2, 13, 26, 100, 10000, 1000000007, 2^31 − 1, nextDouble() × 8], for lib/nexmark's port.
// Run: java scripts/nexmark-vectors/SplittableRandomDraws.java
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

public class SplittableRandomDraws {
  public static void main(String[] args) {
    long[] seeds = {0L, 1L, 42L, -7L, 9007199254740991L, -9007199254740991L};
    int[] bounds = {1, 2, 13, 26, 100, 10000, 1000000007, Integer.MAX_VALUE};
    List<String> cases = new ArrayList<>();
    for (long seed : seeds) {
      SplittableRandom random = new SplittableRandom(seed);
      List<String> ints = new ArrayList<>();
      for (int i = 0; i < 8; i++) ints.add(String.valueOf(random.nextInt()));
      List<String> bounded = new ArrayList<>();
      for (int i = 0; i < 16; i++) bounded.add(String.valueOf(random.nextInt(bounds[i % bounds.length])));
      List<String> doubles = new ArrayList<>();
      for (int i = 0; i < 8; i++) doubles.add(Double.toString(random.nextDouble()));
      cases.add("[" + seed + ", [" + String.join(", ", ints) + "], [" + String.join(", ", bounded) + "], [" + String.join(", ", doubles) + "]]");
    }
    System.out.println("[\n  " + String.join(",\n  ", cases) + "\n]");
  }
}
