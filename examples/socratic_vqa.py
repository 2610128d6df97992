"""Python twin of socratic_vqa.yaml: captioner + CLIP evidence -> LLM chain-of-thought answer.

    python examples/socratic_vqa.py IMAGE "QUESTION"
"""

import json
import sys
from pathlib import Path

from socratic import Graph, Image
from socratic.llm.openai_backend import OpenAILLM
from socratic.nodes.caption import Caption
from socratic.nodes.text import Template
from socratic.recipes.reasoning import ChainOfThought
from socratic.recipes.socratic_caption import SocraticEvidence
from socratic.vision.captioner import HFCaptioner
from socratic.vision.clip_open import OpenClipModel

HERE = Path(__file__).parent


def build(llm, clip, captioner) -> Graph:
    g = Graph("socratic-vqa")
    g.add_input("image", Image)
    g.add_input("question", str)
    g.add("caption", Caption(captioner, strategy="beam"), image="inputs.image")
    g.add("evidence", SocraticEvidence(clip), image="inputs.image")
    g.add("context", Template(prompt="socratic_vqa"), caption="caption.caption",
          img_type="evidence.img_type", num_people="evidence.num_people", places="evidence.places",
          objects="evidence.objects", question="inputs.question")
    g.add("answer", ChainOfThought(llm, samples=3, temperature=0.7), question="context.output")
    g.add_output("answer", "answer.answer")
    g.add_output("reasoning", "answer.reasoning")
    return g


if __name__ == "__main__":
    image = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "images" / "astronaut.jpg")
    question = sys.argv[2] if len(sys.argv) > 2 else "What is the person in the picture wearing?"
    graph = build(OpenAILLM(model="gpt-4o-mini"),
                  OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b79k"),
                  HFCaptioner(model="Salesforce/blip-image-captioning-base"))
    print(json.dumps(graph.run(image=image, question=question), indent=2))
