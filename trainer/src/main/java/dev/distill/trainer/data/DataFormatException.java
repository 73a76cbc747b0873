package dev.distill.trainer.data;

import java.nio.file.Path;

/** A data file that cannot be read; the message names the file, line and record. */
public class DataFormatException extends IllegalArgumentException {

  DataFormatException(Path file, long line, long record, String problem) {
    super(file + ":" + line + ": record " + record + ": " + problem);
  }

  DataFormatException(Path file, String problem, Throwable cause) {
    super(file + ": " + problem, cause);
  }
}
