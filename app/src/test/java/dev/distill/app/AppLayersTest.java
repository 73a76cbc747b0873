package dev.distill.app;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** Inside the application, only the command line knows the command line (docs/architecture.md). */
class AppLayersTest {

  private static final JavaClasses APP =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.distill.app");

  @Test
  void onlyCliUsesCliOrPicocli() {
    noClasses()
        .that()
        .resideOutsideOfPackage("dev.distill.app.cli..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("dev.distill.app.cli..", "picocli..")
        .check(APP);
  }
}
