package javax.annotation;

/** Stand-in for JSR 305's annotation (nexmark's Event uses it; it means nothing to the generator). */
public @interface Nullable {}
