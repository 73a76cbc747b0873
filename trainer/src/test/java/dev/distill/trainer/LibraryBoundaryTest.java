package dev.distill.trainer;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The training library stands alone: nothing in {@code dev.distill.trainer} reaches the command
 * line, HTTP, metrics registries, charts or the application. (The Maven module graph already makes
 * importing {@code dev.distill.app} a compile error; this also catches JDK HTTP and classes that
 * would arrive through a transitive dependency.)
 */
class LibraryBoundaryTest {

  private static final JavaClasses LIBRARY =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.distill.trainer");

  @Test
  void theLibraryImportsNoApplicationLayer() {
    noClasses()
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "dev.distill.app..",
            "dev.distill.service..",
            "picocli..",
            "java.net.http..",
            "org.apache.hc..",
            "org.apache.http..",
            "okhttp3..",
            "io.micrometer..",
            "org.springframework..",
            "org.jfree..",
            "tools.jackson.dataformat.yaml..")
        .because("the trainer library depends on spec and DJL only (docs/architecture.md)")
        .check(LIBRARY);
  }
}
