"""Python twin of descriptor_classification.yaml: descriptors from an LLM, scored by CLIP.

    python examples/descriptor_classification.py IMAGE [CLASS ...]
"""

import json
import sys
from pathlib import Path

from socratic import Graph, Image
from socratic.llm.openai_backend import OpenAILLM
from socratic.nodes.llm import Generate
from socratic.recipes.descriptors import DescriptorClassify
from socratic.vision.clip_open import OpenClipModel

HERE = Path(__file__).parent


def build(llm, clip) -> Graph:
    g = Graph("descriptor-classification")
    g.add_input("image", Image)
    g.add_input("classes", list[str])
    g.add("describe", Generate(llm, prompt="descriptors", parse="bullets", max_tokens=200),
          for_each={"category": "inputs.classes"})
    g.add("classify", DescriptorClassify(clip), image="inputs.image", classes="inputs.classes",
          descriptors="describe.output")
    for name in ("label", "scores", "contributions", "baseline_label"):
        g.add_output(name, f"classify.{name}")
    return g


if __name__ == "__main__":
    image = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "images" / "chelsea.jpg")
    classes = sys.argv[2:] or ["cat", "dog", "coffee cup", "astronaut", "rocket"]
    graph = build(OpenAILLM(model="gpt-4o-mini", temperature=0),
                  OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b79k"))
    print(json.dumps(graph.run(image=image, classes=classes), indent=2))
