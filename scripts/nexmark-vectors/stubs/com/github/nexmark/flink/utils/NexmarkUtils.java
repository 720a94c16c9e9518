package com.github.nexmark.flink.utils;

/** Stand-in for nexmark's NexmarkUtils: the generator reads only the rate shape's step length (unused for one rate). */
public class NexmarkUtils {
  public enum RateShape {
    SQUARE;

    public long stepLengthSec(int ratePeriodSec) {
      return (ratePeriodSec + 1) / 2;
    }
  }
}
