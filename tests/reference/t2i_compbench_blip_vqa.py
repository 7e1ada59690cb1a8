"""Test-only extract of T2I-CompBench's BLIP-VQA bookkeeping, the oracle of
tests/test_policy_t2i.py: github Karine-Huang/T2I-CompBench, commit
1b7094991a57f3c22abdd4f6e8ba6c1a15517073, files BLIPvqa_eval/BLIP_vqa.py
(``Create_annotation_for_BLIP`` and ``main``), BLIPvqa_eval/data/utils.py (``pre_question``)
and BLIPvqa_eval/models/blip_vqa.py (the answer formatting of ``inference == 'vqa_prob'``).

Kept as upstream wrote it; only the file and model I/O is replaced: file names and the
spaCy ``nlp`` come in as arguments, the BLIP answers (the ``vqa_result.json`` contents) come
in as a callable, and the reward tensor lives on the CPU instead of CUDA (same float32
arithmetic).
"""

import re

import torch


def pre_question(question,max_ques_words=50):
    question = re.sub(
        r"([.!\"()*#:;~])",
        '',
        question.lower(),
    ) 
    question = question.rstrip(' ')
    
    #truncate question
    question_words = question.split(' ')
    if len(question_words)>max_ques_words:
        question = ' '.join(question_words[:max_ques_words])
            
    return question


def Create_annotation_for_BLIP(file_names, nlp, np_index=None):
    annotations = []
    file_names = list(file_names)
    file_names.sort(key=lambda x: int(x.split("_")[-1].split('.')[0]))#sort

    cnt=0

    #output annotation.json
    for file_name in file_names:
        image_dict={}
        image_dict['image'] = file_name
        image_dict['question_id']= cnt
        f = file_name.split('_')[0]
        doc = nlp(f)
        
        noun_phrases = []
        for chunk in doc.noun_chunks:
            if chunk.text not in ['top', 'the side', 'the left', 'the right']:  # todo remove some phrases
                noun_phrases.append(chunk.text)
        if(len(noun_phrases)>np_index):
            q_tmp = noun_phrases[np_index]
            image_dict['question']=f'{q_tmp}?'
        else:
            image_dict['question'] = ''
            

        image_dict['dataset']="color"
        cnt+=1

        annotations.append(image_dict)
    return annotations


def vqa_prob_answer(p):
    """blip_vqa.py ``forward(..., inference='vqa_prob')``: each probability as a string."""
    answer = '{:.4f}'.format(p)
    return str(answer)


def main(file_names, nlp, answer_fn, np_num=8):
    """``answer_fn(image, pre_question(question)) -> yes-probability tensor element``;
    returns the per-image answers written to vqa_result.json and the BLIP-VQA score."""
    np_index = np_num #how many noun phrases

    sample_num = len(file_names)
    reward = torch.zeros((sample_num, np_index))

    questions = []
    for i in range(np_index):
        r_tmp = Create_annotation_for_BLIP(file_names, nlp, np_index=i)
        r = [{"question_id": a["question_id"],
              "answer": vqa_prob_answer(answer_fn(a["image"], pre_question(a["question"])))}
             for a in r_tmp]
        questions.append([pre_question(a["question"]) if a["question"] != '' else ''
                          for a in r_tmp])
        for k in range(len(r)):
            if(r_tmp[k]['question']!=''):
                reward[k][i] = float(r[k]["answer"])
            else:
                reward[k][i] = 1
    reward_final = reward[:,0]
    for i in range(1,np_index):
        reward_final *= reward[:,i]

    reward_after=0
    for k in range(len(r)):
        r[k]["answer"] = '{:.4f}'.format(reward_final[k].item())
        reward_after+=float(r[k]["answer"])
    return r, reward_after/len(r), questions
