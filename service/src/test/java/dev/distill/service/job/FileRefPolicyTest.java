package dev.distill.service.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * {@code file:} references are checked on their real path (symlinks resolved) against the allowed
 * roots, and never reach into the artifact store (there, only {@code job:} of the same project).
 */
class FileRefPolicyTest extends ServiceTest {

  private static String finetune(String student, String dataset) {
    return "{\"type\":\"finetune\",\"student\":\""
        + student
        + "\",\"dataset\":{\"uri\":\""
        + dataset
        + "\"}}";
  }

  private Resp submit(Project p, String body) {
    return post("/v1/jobs", p.member(), body);
  }

  private static String field(Resp r) {
    return r.json().get("errors").get(0).get("field").asString();
  }

  @Test
  void aSymlinkOutOfTheAllowedRootsIsRefused() throws Exception {
    Project p = newProject();
    Path data = HOME.resolve("data");
    Path link = data.resolve("etc-link-" + UUID.randomUUID());
    Files.createSymbolicLink(link, Path.of("/etc"));
    Resp r = submit(p, finetune("file:" + link, "builtin:procedural"));
    assertThat(r.status()).as(r.body()).isEqualTo(422);
    assertThat(field(r)).isEqualTo("student.uri");
    assertThat(r.body()).contains("symlinks resolved");
    Resp viaLinkedDir = submit(p, finetune("builtin:gemma2-tiny", "file:" + link + "/passwd"));
    assertThat(viaLinkedDir.status()).as(viaLinkedDir.body()).isEqualTo(422);
    assertThat(field(viaLinkedDir)).isEqualTo("dataset.uri");

    Path dangling = data.resolve("dangling-" + UUID.randomUUID());
    Files.createSymbolicLink(dangling, data.resolve("not-there-" + UUID.randomUUID()));
    Resp d = submit(p, finetune("file:" + dangling, "builtin:procedural"));
    assertThat(d.status()).as(d.body()).isEqualTo(422);
    assertThat(d.body()).contains("does not resolve");

    // a real directory under the root is fine; so is a link to it inside the root
    Path model = Files.createDirectories(data.resolve("models/m-" + UUID.randomUUID()));
    Path inner = data.resolve("inner-link-" + UUID.randomUUID());
    Files.createSymbolicLink(inner, model);
    assertThat(submit(p, finetune("file:" + model, "builtin:procedural")).status()).isEqualTo(201);
    assertThat(submit(p, finetune("file:" + inner, "builtin:procedural")).status()).isEqualTo(201);
  }

  @Test
  void theArtifactStoreIsReachedOnlyThroughJobReferences() throws Exception {
    Project owner = newProject();
    Project other = newProject();
    String ownersJob = createJob(owner.member(), minimal("finetune", 0));
    Path artifacts = HOME.resolve("data/artifacts");
    Path output =
        Files.createDirectories(artifacts.resolve("jobs").resolve(ownersJob).resolve("final"));
    for (Project p : new Project[] {other, owner}) {
      Resp direct = submit(p, finetune("file:" + output, "builtin:procedural"));
      assertThat(direct.status()).as(direct.body()).isEqualTo(422);
      assertThat(field(direct)).isEqualTo("student.uri");
      assertThat(direct.body()).contains("artifact store", "job:");
    }
    Resp tokenizer =
        submit(
            other,
            "{\"type\":\"finetune\",\"student\":{\"uri\":\"builtin:gemma2-tiny\",\"tokenizer\":\"file:"
                + output
                + "/tokenizer.json\"},\"dataset\":{\"uri\":\"builtin:procedural\"}}");
    assertThat(tokenizer.status()).as(tokenizer.body()).isEqualTo(422);
    assertThat(field(tokenizer)).isEqualTo("student.tokenizer");
    // a symlink elsewhere under the allowed root that points into the store
    Path link = HOME.resolve("data/store-link-" + UUID.randomUUID());
    Files.createSymbolicLink(link, artifacts);
    Resp viaLink =
        submit(other, finetune("builtin:gemma2-tiny", "file:" + link + "/jobs/" + ownersJob));
    assertThat(viaLink.status()).as(viaLink.body()).isEqualTo(422);
    assertThat(field(viaLink)).isEqualTo("dataset.uri");
    // the way in: job: of the same project (another project's is refused, see JobApiTest)
    String viaJob =
        "{\"type\":\"distill\",\"teacher\":\"job:"
            + ownersJob
            + "\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";
    assertThat(submit(owner, viaJob).status()).isEqualTo(201);
    assertThat(submit(other, viaJob).status()).isEqualTo(422);
  }
}
