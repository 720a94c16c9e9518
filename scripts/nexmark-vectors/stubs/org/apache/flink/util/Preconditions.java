package org.apache.flink.util;

/** Stand-in for Flink's Preconditions (the generator calls checkNotNull). */
public final class Preconditions {
  public static <T> T checkNotNull(T reference) {
    if (reference == null) throw new NullPointerException();
    return reference;
  }
}
