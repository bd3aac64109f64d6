#!/usr/bin/python3
"""Generate src/HeadMiner/Analysis/Catalog/head-catalog.json, the head-type catalog shipped with the library.

The catalog is our own structured data. Everything that is judgement (ids, display names, which CSV tags mean the
same type, the stage, the one-line function, which detector measures it) lives in TYPES below and is edited here, by
hand; the only thing read from the survey's paper list (../shared/docs/head-papers.csv, never committed) is which
paper is tagged with which head type. Every tag of the CSV must be claimed by exactly one entry, or the script stops.

Deterministic (entries in TYPES order, papers newest first, fixed JSON formatting). Run from the repository root:

    python3 tools/catalog/make_head_catalog.py [--csv ../shared/docs/head-papers.csv] [--out PATH]
"""
import argparse
import csv
import json
import os
import sys

VERSION = 1

DETECTORS = {
    "previous_token", "duplicate_token", "induction", "positional", "attention_sink", "rare_words", "subword_merge",
    "ov_copying", "negative_copying", "k_composition", "name_mover", "negative_name_mover", "s_inhibition",
    "retrieval", "successor", "constant_mcqa", "single_letter_mcqa", "correct_letter_mcqa", "negative_nas",
    "greater_than",
}

# Fields: id, display name, CSV tags meaning this type (aliases), stage, stage note (required when the survey's
# four-stage table does not list the type), function (our words), detector, related detectors, detector note.
T = dict


def entry(id, name, aliases, stage, function, detector=None, stage_note=None, related=(), detector_note=None):
    return T(id=id, name=name, aliases=list(aliases), stage=stage, stage_note=stage_note, function=function,
             detector=detector, related_detectors=list(related), detector_note=detector_note)


NOT_IN_TABLE = "Not in the survey's four-stage table; filed here because "

TYPES = [
    # --- KR: knowledge recalling -------------------------------------------------------------------------------------
    entry("memory", "Memory Head", ["Memory Head"], "KR",
          "Brings facts stored in the weights about an entity of the prompt into the residual stream."),
    entry("associative_memory", "Associative Memory Head", ["Associative Memories"], "KR",
          "Stores key-to-value token associations in its weights and returns the value when the key appears."),
    entry("constant", "Constant Head", ["Constant Head"], "KR",
          "In a multiple-choice prompt, spreads its attention about evenly over all answer options.",
          detector="constant_mcqa"),
    entry("single_letter", "Single Letter Head", ["Single Letter Head"], "KR",
          "In a multiple-choice prompt, attends to one answer letter whatever the right answer is.",
          detector="single_letter_mcqa"),
    entry("negative", "Negative Head", ["Negative Head"], "KR",
          "On yes/no questions, attends more to the \"No\" option than to \"Yes\", biasing the answer negative.",
          detector="negative_nas"),
    entry("attribute_extraction", "Attribute Extraction Head", ["Attribute Extraction Head"], "KR",
          "Reads an attribute of a known entity out of the entity's tokens and carries it to the prediction.",
          stage_note=NOT_IN_TABLE + "it fetches stored knowledge about an entity, like memory heads."),
    entry("knowledge_retention", "Knowledge Retention Head", ["Knowledge Retention Head"], "KR",
          "A head whose attention carries knowledge of earlier tasks, so keeping it steady limits forgetting.",
          stage_note=NOT_IN_TABLE + "it is defined by what learned knowledge it preserves, not by the context."),
    entry("gender", "Gender Head", ["Gender Head"], "KR",
          "Carries learned gender associations of a word into the stream, a source of biased completions.",
          stage_note=NOT_IN_TABLE + "the bias it adds comes from associations learned in training."),

    # --- ICI: in-context identification ------------------------------------------------------------------------------
    entry("previous_token", "Previous Token Head", ["Previous Token Head", "Previous Head"], "ICI",
          "Attends from each token to the token just before it, copying what came one step earlier.",
          detector="previous_token"),
    entry("positional", "Positional Head", ["Positional Head"], "ICI",
          "Attends by position (a fixed offset or a fixed place in the sequence) rather than by content.",
          detector="positional"),
    entry("rare_words", "Rare Words Head", ["Rare words Head"], "ICI",
          "Attends to the least frequent tokens of the context, which tend to carry the most information.",
          detector="rare_words"),
    entry("duplicate_token", "Duplicate Token Head", ["Duplicate Token Head"], "ICI",
          "Attends from a token to earlier copies of the same token, marking that it was seen before.",
          detector="duplicate_token"),
    entry("retrieval", "Retrieval Head", ["Retrieval Head"], "ICI",
          "Finds a span of a long context that matches the current output and copies it token by token.",
          detector="retrieval"),
    entry("global_retrieval", "Global Retrieval Head", [], "ICI",
          "Attends over the whole of a long input to collect the passages relevant to the question.",
          detector_note="The retrieval detector scores token-level copying from the needle, not this broader search."),
    entry("syntactic", "Syntactic Head", ["Syntactic Head", "Syntactic dependency Head"], "ICI",
          "Attends along a grammatical relation (verb to object, noun to modifier, and so on)."),
    entry("constituency", "Constituency Grammar Inducing Head", ["Constituency grammar inducing Head"], "ICI",
          "Attends within phrase boundaries in a way that lets a constituency parse be read off its attention.",
          stage_note=NOT_IN_TABLE + "it tracks the syntax of the context, like syntactic heads."),
    entry("subword_merge", "Subword Merge Head", ["Subword merging Head", "BPE-merging Head"], "ICI",
          "Attends from a word's later pieces to its earlier pieces so the word is read as one unit.",
          detector="subword_merge"),
    entry("mover", "Mover Head", ["Mover Head"], "ICI",
          "Moves information about a token (such as a subject's attribute) to the position that predicts next."),
    entry("name_mover", "Name Mover Head", ["Name Mover Head"], "ICI",
          "Attends to a name in the context and copies it to the output (the indirect object in IOI).",
          detector="name_mover", related=["ov_copying"]),
    entry("backup_name_mover", "Backup Name Mover Head", ["Backup Name Mover Head"], "ICI",
          "Does little normally but takes over the name movers' job when those are knocked out.",
          detector="name_mover",
          detector_note="The name-mover detector scores the mover behaviour; telling a backup from a primary mover "
                        "needs an ablation of the primaries."),
    entry("negative_name_mover", "Negative Name Mover Head", ["Negative Name Mover Head"], "ICI",
          "Attends to the name a mover would copy and lowers its logit, hedging the prediction.",
          detector="negative_name_mover", related=["negative_copying"]),
    entry("letter_mover", "Letter Mover Head", ["Letter Mover Head"], "ICI",
          "Copies the first letter of a word in the context to the output, as when forming an acronym."),
    entry("queried_rule_locating", "Queried Rule Locating Head", ["Queried rule Locating Head"], "ICI",
          "In a logic problem, attends to the rule that the question asks about.",
          stage_note=NOT_IN_TABLE + "it locates a part of the context, the job of ICI."),
    entry("queried_rule_mover", "Queried Rule Mover Head", ["Queried rule Mover Head"], "ICI",
          "Carries the located rule's content to the position where the answer is formed.",
          stage_note=NOT_IN_TABLE + "it is a mover head, and the survey files movers under ICI."),
    entry("context", "Context Head", ["Context Head"], "ICI",
          "Favours what the prompt says over what the model memorised when the two disagree."),
    entry("content_gatherer", "Content Gatherer Head", ["Content Gatherer Head"], "ICI",
          "Collects the content of the relevant options or entities at the final position."),
    entry("sentiment_summarizer", "Sentiment Summarizer Head", [], "ICI",
          "Gathers the sentiment of earlier words at summary tokens such as punctuation."),
    entry("semantic_induction", "Semantic Induction Head", [], "ICI",
          "Attends from a word to words related to it in meaning (not just identical) and raises them."),
    entry("subject", "Subject Head", ["Subject Head"], "ICI",
          "Attends to the subject of the sentence and carries its attributes forward."),
    entry("relation", "Relation Head", ["Relation Head"], "ICI",
          "Attends to the relation words of a factual prompt and passes on what is being asked."),
    entry("attention_sink", "Attention Sink (Active-Dormant) Head", ["Active Dormant Head"], "ICI",
          "Parks its attention on the first token (a sink) when it has nothing to do, and wakes on some inputs.",
          detector="attention_sink",
          stage_note=NOT_IN_TABLE + "its switch between sink and active mode is read from the context, like "
                                    "positional heads."),
    entry("streaming", "Streaming Head", ["Streaming Head"], "ICI",
          "Attends only to the first tokens and a recent window, so it needs no long-range memory.",
          stage_note=NOT_IN_TABLE + "its pattern is set by position, like positional heads.",
          related=["attention_sink", "positional"]),
    entry("local", "Local Head", ["Local Head", "Local-context Head"], "ICI",
          "Attends to a small window of nearby tokens around the current one.",
          stage_note=NOT_IN_TABLE + "it attends by distance, like positional heads.", related=["positional"]),
    entry("diagonal", "Diagonal Head", ["Diagonal Head"], "ICI",
          "Attends mostly to the current token itself, the diagonal of the pattern.",
          stage_note=NOT_IN_TABLE + "it attends by position, like positional heads.", related=["positional"]),
    entry("apostrophe", "Apostrophe Head", ["Apostrophe Head"], "ICI",
          "Attends to apostrophes and the word pieces around them.",
          stage_note=NOT_IN_TABLE + "it picks out a kind of token in the context."),
    entry("delimiter", "Delimiter Head", ["Delimiter Head"], "ICI",
          "Attends to separator tokens (full stops, separators), often as a resting place.",
          stage_note=NOT_IN_TABLE + "it picks out a kind of token in the context.", related=["attention_sink"]),
    entry("block", "Block Head", ["Block Head"], "ICI",
          "Attends only within the current sentence or segment.",
          stage_note=NOT_IN_TABLE + "it follows the structure of the context."),
    entry("interrogation", "Interrogation Head", ["Interrogation Head"], "ICI",
          "Attends to question marks and question words.",
          stage_note=NOT_IN_TABLE + "it picks out a kind of token in the context."),
    entry("source", "Source Head", ["Source Head"], "ICI",
          "In translation, attends to the source-language word being translated.",
          stage_note=NOT_IN_TABLE + "it locates the part of the context to translate."),
    entry("indicator", "Indicator Head", ["Indicator Head"], "ICI",
          "In translation, attends to the tokens that say which language to produce.",
          stage_note=NOT_IN_TABLE + "it locates the instruction within the context."),
    entry("attribution", "Attribution Head", ["Attribution Head"], "ICI",
          "In extractive question answering, attends to the context span that holds the answer.",
          stage_note=NOT_IN_TABLE + "it locates the answer in the context, like retrieval heads.",
          related=["retrieval"]),
    entry("evaluator", "Evaluator Head", ["Evaluator Head"], "ICI",
          "Its attention ranks which tokens of a long input matter, which allows pruning the rest.",
          stage_note=NOT_IN_TABLE + "it judges which parts of the context are relevant."),
    entry("important", "Important Head", ["Important Head"], "ICI",
          "Attends to the user's instruction; a shift of its attention to injected text flags a prompt injection.",
          stage_note=NOT_IN_TABLE + "it tracks which instruction in the context is followed."),
    entry("copy", "Copy Head", ["Copy Head"], "ICI",
          "Attends to a token and writes that same token to the output.",
          detector="ov_copying",
          stage_note=NOT_IN_TABLE + "it moves a context token to the output, as the ICI movers do."),
    entry("detection", "Detection Head", ["Detection Head"], "ICI",
          "Attends to the members of a sequence in the prompt (numbers, days) and detects the pattern.",
          stage_note=NOT_IN_TABLE + "it identifies structure in the context."),

    # --- LR: latent reasoning ----------------------------------------------------------------------------------------
    entry("induction", "Induction Head", ["Induction Head"], "LR",
          "Finds the earlier occurrence of the current token and predicts the token that followed it.",
          detector="induction", related=["k_composition", "ov_copying"]),
    entry("function_vector", "Function Vector Head", ["Function Vector Head"], "LR",
          "Its output at the last position encodes the task shown by the examples and can trigger it elsewhere."),
    entry("in_context", "In-Context Head", ["In-Context Head"], "LR",
          "Matches the query to the demonstrations (query/key as a similarity) and reads off their labels."),
    entry("summary_reader", "Summary Reader Head", [], "LR",
          "Reads the sentiment collected at summary tokens and uses it for the prediction."),
    entry("truthfulness", "Truthfulness Head", ["Truthfulness Head"], "LR",
          "Its activations separate true from false statements; shifting them makes answers more truthful."),
    entry("accuracy", "Accuracy Head", ["Accuracy Head"], "LR",
          "A head whose steering most improves task accuracy."),
    entry("consistency", "Consistency Head", ["Consistency Head"], "LR",
          "A head whose editing makes the model's answers agree across rephrased prompts."),
    entry("vulnerable", "Vulnerable Head", ["Vulnerable Head"], "LR",
          "A head that adversarial inputs exploit to flip the model's decision."),
    entry("correct_letter", "Correct Letter Head", ["Correct Letter Head"], "LR",
          "In a multiple-choice prompt, attends to the letter of the right option and promotes it.",
          detector="correct_letter_mcqa"),
    entry("answer", "Answer Head", ["Answer Head"], "LR",
          "In multiple choice, carries the chosen answer's symbol to the last position.",
          stage_note=NOT_IN_TABLE + "it does the job of the correct-letter heads, which the survey files under LR.",
          related=["correct_letter_mcqa"]),
    entry("iteration", "Iteration Head", ["Iteration Head"], "LR",
          "In step-by-step reasoning, attends to the input item needed for the current step."),
    entry("successor", "Successor Head", ["Successor Head"], "LR",
          "Given an item of an ordered list (number, day, month, letter), raises the next item.",
          detector="successor"),
    entry("s_inhibition", "S-Inhibition Head", ["S-Inhibition Head", "S Inhibition Head", "Inhibition Head"], "LR",
          "Attends to a repeated token and tells later heads not to copy it (the subject in IOI).",
          detector="s_inhibition"),
    entry("arithmetic", "Arithmetic Head", ["Arithmetic Head"], "LR",
          "Moves the operands of a calculation to the answer position, where the result is computed.",
          detector="greater_than",
          stage_note=NOT_IN_TABLE + "it serves a computation over the context.",
          detector_note="Greater-Than (year comparison) is the one arithmetic probe we run: it finds the heads that "
                        "move the start year to the answer position, not arithmetic heads in general."),
    entry("addition", "Addition Head", ["Addition Head"], "LR",
          "Attends to the digits to be added and passes them on to the answer digits.",
          stage_note=NOT_IN_TABLE + "it serves a computation over the context."),
    entry("cot", "Chain-of-Thought Head", ["CoT Head"], "LR",
          "Moves information between steps of a chain of thought while the answer is being worked out.",
          stage_note=NOT_IN_TABLE + "it carries the reasoning steps."),
    entry("cmr_like", "CMR-like Head", ["CMR like Head"], "LR",
          "Recalls the token after a match with a bias to nearby positions, as human episodic memory does.",
          stage_note=NOT_IN_TABLE + "it is a variant of the induction mechanism, filed under LR.",
          related=["induction"]),
    entry("forerunner", "Forerunner Head", ["Forerunner Head"], "LR",
          "Gathers each demonstration's information at the token just before its label.",
          stage_note=NOT_IN_TABLE + "it is part of the in-context learning circuit."),
    entry("fact_processing", "Fact Processing Head", ["Fact processing Head"], "LR",
          "In a logic problem, combines the stated facts with the located rule.",
          stage_note=NOT_IN_TABLE + "it does the reasoning step itself."),

    # --- EP: expression preparation ----------------------------------------------------------------------------------
    entry("mixed", "Mixed Head", ["Mixed Head"], "EP",
          "Combines the outputs of several earlier heads into the final answer."),
    entry("amplification", "Amplification Head", ["Amplification Head"], "EP",
          "Boosts the logit of the answer that earlier heads have already chosen."),
    entry("correct", "Correct Head", [], "EP",
          "Writes the correct answer token strongly into the output at the last position."),
    entry("coherence", "Coherence Head", ["Coherence Head"], "EP",
          "A head whose steering keeps the generated text fluent and in the right language."),
    entry("faithfulness", "Faithfulness Head", ["Faithfulness Head"], "EP",
          "A head whose steering makes the final answer follow from the model's own reasoning."),
    entry("copy_suppression", "Copy Suppression Head", ["Copy Suppression Head"], "EP",
          "Attends to a token that earlier layers predict and lowers that token's logit.",
          detector="negative_copying",
          stage_note="The survey's table names copy suppression in the EP row, discussed with the movers; it acts on "
                     "the output logits, so we file it under EP."),
    entry("decision", "Decision Head", ["Decision Head"], "EP",
          "In a logic problem, reads the reasoning result and emits the answer.",
          stage_note=NOT_IN_TABLE + "it writes the answer to the output."),
    entry("direct_effect", "Direct Effect Head", ["Direct effect Head"], "EP",
          "Writes sentiment straight to the logits, so its effect does not pass through later layers.",
          stage_note=NOT_IN_TABLE + "it acts directly on the output."),
    entry("past_tense", "Past Tense Head", ["Past Tense Head"], "EP",
          "Shapes the output word into its past-tense form.",
          stage_note=NOT_IN_TABLE + "it shapes the form of the output."),
    entry("style", "Style Head", ["Style Head"], "EP",
          "Controls the style of the answer; editing it changes tone without changing content.",
          stage_note=NOT_IN_TABLE + "it shapes the form of the output."),
    entry("safety", "Safety Head", ["Safety Head"], "EP",
          "Decides whether the answer is a refusal; removing it weakens refusals of harmful requests.",
          stage_note=NOT_IN_TABLE + "it shapes what is finally said."),
    entry("qa", "QA Head", ["QA Head"], "EP",
          "A head whose steering changes how the model answers a kind of question.",
          stage_note=NOT_IN_TABLE + "steering it changes what is finally said."),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=os.path.join(root, "..", "shared", "docs", "head-papers.csv"))
    ap.add_argument("--out", default=os.path.join(root, "src", "HeadMiner", "Analysis", "Catalog", "head-catalog.json"))
    args = ap.parse_args()
    if not os.path.exists(args.csv):
        sys.exit(f"{args.csv}: paper list not found")

    by_tag = {}
    ids = set()
    for t in TYPES:
        if t["id"] in ids:
            sys.exit(f"duplicate id {t['id']}")
        ids.add(t["id"])
        if t["stage"] not in ("KR", "ICI", "LR", "EP"):
            sys.exit(f"{t['id']}: bad stage {t['stage']}")
        for d in ([t["detector"]] if t["detector"] else []) + t["related_detectors"]:
            if d not in DETECTORS:
                sys.exit(f"{t['id']}: unknown detector {d}")
        for a in t["aliases"]:
            if a in by_tag:
                sys.exit(f"tag {a} claimed by {by_tag[a]['id']} and {t['id']}")
            by_tag[a] = t
        t["papers"] = []

    with open(args.csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = set()
    for r in rows:
        for tag in (s.strip() for s in r["head_types"].split(";")):
            if not tag:
                continue
            t = by_tag.get(tag)
            if t is None:
                missing.add(tag)
                continue
            paper = {"title": r["title"], "date": r["date"], "url": r["paper_url"]}
            if r.get("code_url"):
                paper["code_url"] = r["code_url"]
            if paper not in t["papers"]:
                t["papers"].append(paper)
    if missing:
        sys.exit("tags with no catalog entry: " + ", ".join(sorted(missing)))

    out = {"version": VERSION, "source": "Zheng et al. 2024, Attention Heads of Large Language Models: A Survey "
                                          "(arXiv 2409.03752), and its paper list; functions are our own summaries",
           "stages": {"KR": "Knowledge Recalling", "ICI": "In-Context Identification", "LR": "Latent Reasoning",
                      "EP": "Expression Preparation"},
           "types": []}
    for t in TYPES:
        t["papers"].sort(key=lambda p: (p["date"], p["title"]), reverse=True)
        item = {k: t[k] for k in ("id", "name", "aliases", "stage")}
        if t["stage_note"]:
            item["stage_note"] = t["stage_note"]
        item["function"] = t["function"]
        item["detector"] = t["detector"]
        if t["related_detectors"]:
            item["related_detectors"] = t["related_detectors"]
        if t["detector_note"]:
            item["detector_note"] = t["detector_note"]
        item["papers"] = t["papers"]
        out["types"].append(item)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(out, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"wrote {len(TYPES)} head types, {sum(len(t['papers']) for t in TYPES)} paper links to {args.out}")


if __name__ == "__main__":
    main()
