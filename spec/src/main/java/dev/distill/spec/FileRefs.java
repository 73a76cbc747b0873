package dev.distill.spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a {@code file:} reference really points, and whether it may be opened: its real path
 * (symlinks resolved) must lie under an allowed root and never inside the artifact store, whose
 * outputs are reached only through {@code job:} references of the same project. The service checks
 * at submission and the worker again before it runs the job, with this one rule.
 */
public final class FileRefs {

  private FileRefs() {}

  /** Every model, tokenizer and dataset reference of a spec by its JSON field. */
  public static Map<String, String> references(JobSpec spec) {
    Map<String, String> refs = new LinkedHashMap<>();
    if (spec.teacher() != null) {
      refs.put("teacher.uri", spec.teacher().uri());
      if (spec.teacher().tokenizer() != null) {
        refs.put("teacher.tokenizer", spec.teacher().tokenizer());
      }
    }
    if (spec.student() != null) {
      refs.put("student.uri", spec.student().uri());
      if (spec.student().tokenizer() != null) {
        refs.put("student.tokenizer", spec.student().tokenizer());
      }
    }
    if (spec.dataset() != null && spec.dataset().uri() != null) {
      refs.put("dataset.uri", spec.dataset().uri());
    }
    if (spec.dataset() != null && spec.dataset().mix() != null) {
      for (int i = 0; i < spec.dataset().mix().size(); i++) {
        MixSource s = spec.dataset().mix().get(i);
        if (s != null && s.uri() != null) {
          refs.put("dataset.mix[" + i + "].uri", s.uri());
        }
      }
    }
    if (spec.judge() != null && spec.judge().model() != null) {
      refs.put("judge.model.uri", spec.judge().model().uri());
      if (spec.judge().model().tokenizer() != null) {
        refs.put("judge.model.tokenizer", spec.judge().model().tokenizer());
      }
    }
    if (spec.teacherLogits() != null) {
      refs.put("teacher_logits", spec.teacherLogits());
    }
    return refs;
  }

  /**
   * The real path of an absolute path: symlinks resolved as far as the path exists, the rest (not
   * yet created, or not visible here) appended as written.
   *
   * @throws IllegalArgumentException when a symlink on the way does not resolve
   */
  public static Path realPath(Path path) {
    Path p = path.toAbsolutePath().normalize();
    Deque<Path> missing = new ArrayDeque<>();
    while (p != null) {
      if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
        try {
          Path real = p.toRealPath();
          while (!missing.isEmpty()) {
            real = real.resolve(missing.pop());
          }
          return real;
        } catch (IOException e) {
          throw new IllegalArgumentException(p + " is a symlink that does not resolve");
        }
      }
      if (p.getFileName() == null) {
        break;
      }
      missing.push(p.getFileName());
      p = p.getParent();
    }
    return path.toAbsolutePath().normalize();
  }

  /**
   * Why a {@code file:} URI may not be used, or null when it may (and for other schemes).
   *
   * @param allowedRoots the real path must lie under one of these; empty means any root
   * @param artifactStore the real path must not lie inside it; null means none
   */
  public static String problem(String uri, Collection<Path> allowedRoots, Path artifactStore) {
    if (uri == null || !uri.startsWith(ModelRef.FILE)) {
      return null;
    }
    Path real;
    try {
      real = realPath(Path.of(uri.substring(ModelRef.FILE.length())));
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
    if (artifactStore != null && real.startsWith(rootPath(artifactStore))) {
      return "file: paths may not point into the artifact store ("
          + artifactStore
          + "); use job:<id> to read another job's output";
    }
    if (!allowedRoots.isEmpty()
        && allowedRoots.stream().map(FileRefs::rootPath).noneMatch(real::startsWith)) {
      return "file: paths must lie under an allowed root (distill.storage.allowed-roots: "
          + allowedRoots
          + "), symlinks resolved; this one is "
          + real;
    }
    return null;
  }

  private static Path rootPath(Path root) {
    try {
      return realPath(root);
    } catch (IllegalArgumentException e) {
      return root.toAbsolutePath().normalize();
    }
  }

  /** Each refused {@code file:} reference of the spec, by field. */
  public static Map<String, String> problems(
      JobSpec spec, Collection<Path> allowedRoots, Path artifactStore) {
    Map<String, String> out = new LinkedHashMap<>();
    references(spec)
        .forEach(
            (field, uri) -> {
              String problem = problem(uri, allowedRoots, artifactStore);
              if (problem != null) {
                out.put(field, problem);
              }
            });
    return out;
  }

  /**
   * The worker's check before it runs a job: throws naming the field of the first refused {@code
   * file:} reference.
   *
   * @throws IllegalArgumentException when a reference points into the artifact store
   */
  public static void requireOutsideArtifactStore(JobSpec spec, Path artifactStore) {
    problems(spec, List.of(), artifactStore).entrySet().stream()
        .findFirst()
        .ifPresent(
            e -> {
              throw new IllegalArgumentException(
                  e.getKey() + " " + references(spec).get(e.getKey()) + ": " + e.getValue());
            });
  }
}
