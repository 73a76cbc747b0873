// Data of the second (positive) sequence-level KD example: six one-answer tasks a small teacher learns
// (counting, parity, first and last letter), docs/sequence-kd.md "When it helps: a measured example".
// Run from the work directory: java -cp "<app jar>:<lib>/*" Gen2.java [noise] [student_n] (java 17 single-file).
// From builtin:procedural's stream (seed 1234) keeps the examples of those tasks; held out by content
// (validation_fraction 0.05, seed 1234: such a prompt is never a training prompt) and written:
//   e-teacher.jsonl  the first 8,000 training-side examples, true labels (the teacher's data);
//   e-clean.jsonl    the first student_n (default 600) of them, true labels;
//   e-noisy.jsonl    the same prompts, each label replaced with probability noise (default 0.5) by the
//                    answer of another example of the same task (a plausible wrong answer);
//   e-prompts.jsonl  the same instructions alone (for the synthesize job);
//   e-heldout.jsonl  400 held-out examples, true labels (evaluate: validation_fraction 1).
import dev.distill.trainer.data.Split;
import dev.distill.trainer.data.procedural.ProceduralDataset;
import dev.distill.trainer.data.procedural.ProceduralExample;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

public class Gen2 {
  static final Set<String> TASKS =
      Set.of("count_char", "count_letters", "even_odd", "count_words", "last_letter", "first_letter");

  static String q(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
  }

  static String row(String instruction, String output) {
    return "{\"instruction\": " + q(instruction) + ", \"input\": \"\", \"output\": " + q(output) + "}";
  }

  public static void main(String[] args) throws Exception {
    double noise = args.length > 0 ? Double.parseDouble(args[0]) : 0.5;
    int studentN = args.length > 1 ? Integer.parseInt(args[1]) : 600;
    Split split = new Split(0.05, 1234);
    List<ProceduralExample> train = new ArrayList<>(), held = new ArrayList<>();
    Set<String> heldPrompts = new HashSet<>();
    for (ProceduralExample e : ProceduralDataset.generate(60000, 1234)) {
      if (!TASKS.contains(e.task())) continue;
      if (split.isValidation(e.toExample())) {
        if (held.size() < 400 && heldPrompts.add(e.prompt())) held.add(e);
      } else if (train.size() < 8000) {
        train.add(e);
      }
    }
    List<ProceduralExample> student = train.subList(0, studentN);
    Map<String, List<String>> byTask = new HashMap<>();
    for (ProceduralExample e : student) byTask.computeIfAbsent(e.task(), k -> new ArrayList<>()).add(e.answer());
    Random r = new Random(7);
    int flipped = 0;
    try (PrintWriter t = new PrintWriter(Files.newBufferedWriter(Path.of("e-teacher.jsonl")));
        PrintWriter c = new PrintWriter(Files.newBufferedWriter(Path.of("e-clean.jsonl")));
        PrintWriter n = new PrintWriter(Files.newBufferedWriter(Path.of("e-noisy.jsonl")));
        PrintWriter p = new PrintWriter(Files.newBufferedWriter(Path.of("e-prompts.jsonl")));
        PrintWriter h = new PrintWriter(Files.newBufferedWriter(Path.of("e-heldout.jsonl")))) {
      for (ProceduralExample e : train) t.println(row(e.prompt(), e.answer()));
      for (ProceduralExample e : held) h.println(row(e.prompt(), e.answer()));
      for (ProceduralExample e : student) {
        String label = e.answer();
        if (r.nextDouble() < noise) {
          List<String> pool = byTask.get(e.task());
          for (int tries = 0; tries < 50 && label.equals(e.answer()); tries++) label = pool.get(r.nextInt(pool.size()));
          if (!label.equals(e.answer())) flipped++;
        }
        c.println(row(e.prompt(), e.answer()));
        n.println(row(e.prompt(), label));
        p.println("{\"instruction\": " + q(e.prompt()) + ", \"input\": \"\"}");
      }
    }
    System.out.printf("teacher %d, student %d (%d relabelled wrong, noise %.2f), held out %d%n",
        train.size(), student.size(), flipped, noise, held.size());
  }
}
