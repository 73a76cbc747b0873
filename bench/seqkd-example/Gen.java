// Data of the sequence-level KD example (docs/sequence-kd.md, "When it helps: a measured example").
// Run from the work directory: java -cp "<app jar>:<lib>/*" Gen.java [noise] (java 17 single-file launch).
// Writes, for the students' prompts (the training side of the first 2,000 examples of the teacher's
// builtin:procedural stream, seed 1234, validation_fraction 0.05, exactly the demo's student set):
//   clean.jsonl  the generator's labels;
//   noisy.jsonl  the same, each one-answer label replaced with probability `noise` (default 0.4) by the
//                answer of another example of the same task (a plausible wrong answer); several-answer
//                tasks keep their sampled answers (already one draw of several);
//   prompts.jsonl the instructions alone, for the synthesize job (mode responses);
//   tasks.jsonl   each student prompt's task (per-task accuracy of the teacher's answers);
//   heldout-tasks.jsonl ProceduralDataset.heldOut's first 2,000 prompts with their task (for per-task analyses;
//                 not in the order of the evaluate job's generations.jsonl).
import dev.distill.trainer.data.Split;
import dev.distill.trainer.data.procedural.ProceduralDataset;
import dev.distill.trainer.data.procedural.ProceduralExample;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

public class Gen {
  static String q(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) throws Exception {
    double noise = args.length > 0 ? Double.parseDouble(args[0]) : 0.4;
    long seed = 1234;
    Split split = new Split(0.05, seed);
    List<ProceduralExample> all = ProceduralDataset.generate(2000, seed);
    List<ProceduralExample> train = new ArrayList<>();
    for (int i = 0; i < all.size(); i++) {
      if (!ProceduralDataset.isValidation(split, all.get(i), i)) train.add(all.get(i));
    }
    Map<String, List<String>> byTask = new HashMap<>();
    for (ProceduralExample e : train) byTask.computeIfAbsent(e.task(), k -> new ArrayList<>()).add(e.answer());
    Random r = new Random(7);
    int flipped = 0, unique = 0;
    try (PrintWriter c = new PrintWriter(Files.newBufferedWriter(Path.of("clean.jsonl")));
        PrintWriter n = new PrintWriter(Files.newBufferedWriter(Path.of("noisy.jsonl")));
        PrintWriter p = new PrintWriter(Files.newBufferedWriter(Path.of("prompts.jsonl")));
        PrintWriter t = new PrintWriter(Files.newBufferedWriter(Path.of("tasks.jsonl")));
        PrintWriter h = new PrintWriter(Files.newBufferedWriter(Path.of("heldout-tasks.jsonl")))) {
      for (ProceduralExample e : ProceduralDataset.heldOut(2000, seed, split)) {
        h.println("{\"instruction\": " + q(e.prompt()) + ", \"task\": " + q(e.task()) + ", \"unique\": " + e.unique() + "}");
      }
      for (ProceduralExample e : train) {
        String label = e.answer();
        if (e.unique()) {
          unique++;
          if (r.nextDouble() < noise) {
            List<String> pool = byTask.get(e.task());
            for (int tries = 0; tries < 20 && label.equals(e.answer()); tries++) label = pool.get(r.nextInt(pool.size()));
            if (!label.equals(e.answer())) flipped++;
          }
        }
        c.println("{\"instruction\": " + q(e.prompt()) + ", \"input\": \"\", \"output\": " + q(e.answer()) + "}");
        n.println("{\"instruction\": " + q(e.prompt()) + ", \"input\": \"\", \"output\": " + q(label) + "}");
        t.println("{\"task\": " + q(e.task()) + ", \"unique\": " + e.unique() + "}");
        p.println("{\"instruction\": " + q(e.prompt()) + ", \"input\": \"\"}");
      }
    }
    System.out.printf("%d student prompts, %d with one answer, %d of them relabelled wrong (noise %.2f)%n",
        train.size(), unique, flipped, noise);
  }
}
