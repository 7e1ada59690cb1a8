"""Test-only extract of T2I-CompBench's UniDet scoring rules, the oracle of
tests/test_t2i_unidet.py: github Karine-Huang/T2I-CompBench, commit
1b7094991a57f3c22abdd4f6e8ba6c1a15517073, files UniDet_eval/2D_spatial_eval.py
(``determine_position`` and the per-image body of ``main``), UniDet_eval/3D_spatial_eval.py
(``determine_position`` and the per-image body of ``main``) and UniDet_eval/numeracy_eval.py
(``calculate_iou`` and the per-image body of ``main``).

Kept as upstream wrote it; only the I/O is replaced: each per-image body is wrapped in a
function whose arguments are what the loop had in scope (the prompt, the detected class
names, boxes and score tensor, the depth map, the noun lists of new_objects.txt) and the
spaCy pipeline comes in as ``_nlp`` instead of ``spacy.load('en_core_web_sm')``.
"""
# flake8: noqa
# ruff: noqa

from word2number import w2n


def determine_position_2d(locality, box1, box2, iou_threshold=0.1,distance_threshold=150):
    # Calculate centers of bounding boxes
    box1_center = ((box1['x_min'] + box1['x_max']) / 2, (box1['y_min'] + box1['y_max']) / 2)
    box2_center = ((box2['x_min'] + box2['x_max']) / 2, (box2['y_min'] + box2['y_max']) / 2)

    # Calculate horizontal and vertical distances
    x_distance = box2_center[0] - box1_center[0]
    y_distance = box2_center[1] - box1_center[1]

    # Calculate IoU
    x_overlap = max(0, min(box1['x_max'], box2['x_max']) - max(box1['x_min'], box2['x_min']))
    y_overlap = max(0, min(box1['y_max'], box2['y_max']) - max(box1['y_min'], box2['y_min']))
    intersection = x_overlap * y_overlap
    box1_area = (box1['x_max'] - box1['x_min']) * (box1['y_max'] - box1['y_min'])
    box2_area = (box2['x_max'] - box2['x_min']) * (box2['y_max'] - box2['y_min'])
    union = box1_area + box2_area - intersection
    iou = intersection / union

    # Determine position based on distances and IoU and give a soft score
    score=0
    if locality in ['next to', 'on side of', 'near']:
        if (abs(x_distance)< distance_threshold or abs(y_distance)< distance_threshold):
            score=1
        else:
            score=distance_threshold/max(abs(x_distance),abs(y_distance))
    elif locality == 'on the right of':
        if x_distance < 0:
            if abs(x_distance) > abs(y_distance) and iou < iou_threshold:
                score=1
            elif abs(x_distance) > abs(y_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
        else:
            score=0
    elif locality == 'on the left of':
        if x_distance > 0:
            if abs(x_distance) > abs(y_distance) and iou < iou_threshold:
                score=1
            elif abs(x_distance) > abs(y_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
        else:
            score=0
    elif locality =='on the bottom of':
        if y_distance < 0:
            if abs(y_distance) > abs(x_distance) and iou < iou_threshold:
                score=1
            elif abs(y_distance) > abs(x_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
    elif locality =='on the top of':
        if y_distance > 0:
            if abs(y_distance) > abs(x_distance) and iou < iou_threshold:
                score=1
            elif abs(y_distance) > abs(x_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
    else:
        score=0
    return score


def determine_position_3d(locality, box1, box2, iou_threshold=0.1,distance_threshold=150, depth_map=None, iou_threshold_3d=0.5):
    # Calculate centers of bounding boxes
    box1_center = ((box1['x_min'] + box1['x_max']) / 2, (box1['y_min'] + box1['y_max']) / 2)
    box2_center = ((box2['x_min'] + box2['x_max']) / 2, (box2['y_min'] + box2['y_max']) / 2)

    # Calculate horizontal and vertical distances
    x_distance = box2_center[0] - box1_center[0]
    y_distance = box2_center[1] - box1_center[1]

    # Calculate IoU
    x_overlap = max(0, min(box1['x_max'], box2['x_max']) - max(box1['x_min'], box2['x_min']))
    y_overlap = max(0, min(box1['y_max'], box2['y_max']) - max(box1['y_min'], box2['y_min']))
    intersection = x_overlap * y_overlap
    box1_area = (box1['x_max'] - box1['x_min']) * (box1['y_max'] - box1['y_min'])
    box2_area = (box2['x_max'] - box2['x_min']) * (box2['y_max'] - box2['y_min'])
    union = box1_area + box2_area - intersection
    iou = intersection / union

    # Determine position based on distances and IoU and give a soft score
    score=0
    if locality in ['next to', 'on side of', 'near']:
        if (abs(x_distance)< distance_threshold or abs(y_distance)< distance_threshold):
            score=1
        else:
            score=distance_threshold/max(abs(x_distance),abs(y_distance))
    elif locality == 'on the right of':
        if x_distance < 0:
            if abs(x_distance) > abs(y_distance) and iou < iou_threshold:
                score=1
            elif abs(x_distance) > abs(y_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
        else:
            score=0
    elif locality == 'on the left of':
        if x_distance > 0:
            if abs(x_distance) > abs(y_distance) and iou < iou_threshold:
                score=1
            elif abs(x_distance) > abs(y_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
        else:
            score=0
    elif locality =='on the bottom of':
        if y_distance < 0:
            if abs(y_distance) > abs(x_distance) and iou < iou_threshold:
                score=1
            elif abs(y_distance) > abs(x_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
    elif locality =='on the top of':
        if y_distance > 0:
            if abs(y_distance) > abs(x_distance) and iou < iou_threshold:
                score=1
            elif abs(y_distance) > abs(x_distance) and iou >= iou_threshold:
                score=iou_threshold/iou
    
    # 3d spatial relation
    elif locality == 'in front of':
        # use depth map to determine
        depth_A = depth_map[int(box1["x_min"]): int(box1["x_max"]), int(box1["y_min"]):int(box1["y_max"])]
        depth_B = depth_map[int(box2["x_min"]): int(box2["x_max"]), int(box2["y_min"]):int(box2["y_max"])]
        mean_depth_A = depth_A.mean()
        mean_depth_B = depth_B.mean()
        
        depth_diff = mean_depth_A - mean_depth_B
        # get the overlap of bbox1 and bbox2
        if iou > iou_threshold_3d:

            if (depth_diff > 0): # TODO set the threshold
                score=1
        
        elif iou < iou_threshold_3d and iou > 0:
            if (depth_diff > 0):
                score=iou/iou_threshold_3d
            else:
                score=0
        else:
            score = 0
        
    
    elif locality == 'behind' or locality == 'hidden':
        # use depth map to determine
        depth_A = depth_map[int(box1["x_min"]): int(box1["x_max"]), int(box1["y_min"]):int(box1["y_max"])]
        depth_B = depth_map[int(box2["x_min"]): int(box2["x_max"]), int(box2["y_min"]):int(box2["y_max"])]
        mean_depth_A = depth_A.mean()
        mean_depth_B = depth_B.mean()
        
        depth_diff = mean_depth_A - mean_depth_B
        # get the overlap of bbox1 and bbox2
        if iou > iou_threshold_3d:

            if (depth_diff < 0): # TODO set the threshold
                score=1
        
        elif iou < iou_threshold_3d and iou > 0:
            if (depth_diff < 0):
                score=iou/iou_threshold_3d
            else:
                score=0
        else:
            score = 0
     
        
    else:
        score=0
    return score


def calculate_iou(bbox1, bbox2):
    x1_1, y1_1, x2_1, y2_1 = bbox1
    x1_2, y1_2, x2_2, y2_2 = bbox2

    x1_inter = max(x1_1, x1_2)
    y1_inter = max(y1_1, y1_2)
    x2_inter = min(x2_1, x2_2)
    y2_inter = min(y2_1, y2_2)

    intersection_area = max(0, x2_inter - x1_inter + 1) * max(0, y2_inter - y1_inter + 1)

    area_bbox1 = (x2_1 - x1_1 + 1) * (y2_1 - y1_1 + 1)
    area_bbox2 = (x2_2 - x1_2 + 1) * (y2_2 - y1_2 + 1)

    iou = intersection_area / float(area_bbox1 + area_bbox2 - intersection_area)

    if iou > 0.9 or (intersection_area / float(area_bbox1) > 0.9) or (intersection_area / float(area_bbox2) > 0.9):
        return 1
    return 0


def spatial_2d_image(prompt, _nlp, obj, obj_bounding_box, instance_score, complex=False):
    class args:
        pass
    args.complex = complex
    determine_position = determine_position_2d
    vocab_spatial = ['on side of', 'next to', 'near', 'on the left of', 'on the right of', 'on the bottom of', 'on the top of','on top of'] #locality words

    locality = None
    for word in vocab_spatial:
        if word in prompt:
            locality = word
            break

    if (args.complex):
        #for complex structure
        nlp = _nlp
        # Define the sentence
        sentence = prompt
        # Process the sentence using spaCy
        doc = nlp(sentence)
        # Define the target prepositions
        prepositions = ["on top of", "on bottom of", "on the left", "on the right",'next to','on side of','near']
        # Extract objects before and after the prepositions
        objects = []
        for i in range(len(doc)):
            if doc[i:i + 3].text in prepositions or doc[i:i + 2].text in prepositions or doc[i:i + 1].text in prepositions:
                if doc[i:i + 3].text in prepositions:
                    k=3
                elif doc[i:i + 2].text in prepositions:
                    k=2
                elif doc[i:i + 1].text in prepositions:
                    k=1
                preposition_phrase = doc[i:i + 3].text
                for j in range(i - 1, -1, -1):
                    if doc[j].pos_ == 'NOUN':
                        objects.append(doc[j].text)
                        break
                    elif doc[j].pos_ == 'PROPN':
                        objects.append(doc[j].text)
                        break
                flag=False
                for j in range(i + k, len(doc)):
                    if doc[j].pos_ == 'NOUN':
                        objects.append(doc[j].text)
                        break
                    if(j==len(doc)-1):
                        flag=True 
                if flag:
                    for j in range(i + k, len(doc)):
                        if (j+1<len(doc)) and doc[j].pos_ == 'PROPN' and doc[j+1].pos_ != 'PROPN':
                            objects.append(doc[j].text)
                            break
        if (len(objects)==2):
            obj1=objects[0]
            obj2=objects[1]
        else:
            obj1=None
            obj2=None
    else:
        #for simple structure
        nlp = _nlp
        doc = nlp(prompt)
        obj1= [token.text for token in doc if token.pos_=='NOUN'][0]
        obj2= [token.text for token in doc if token.pos_=='NOUN'][-1]

    person = ['girl','boy','man','woman']
    if obj1 in person:
        obj1 = "person"
    if obj2 in person:
        obj2 = "person"
    if obj1 in obj and obj2 in obj:
        obj1_pos = obj.index(obj1)
        obj2_pos = obj.index(obj2)
        obj1_bb = obj_bounding_box[obj1_pos]
        obj2_bb = obj_bounding_box[obj2_pos]
        box1, box2={},{}

        box1["x_min"] = obj1_bb[0]
        box1["y_min"] = obj1_bb[1]
        box1["x_max"] = obj1_bb[2]
        box1["y_max"] = obj1_bb[3]
        box2["x_min"] = obj2_bb[0]
        box2["y_min"] = obj2_bb[1]
        box2["x_max"] = obj2_bb[2]
        box2["y_max"] = obj2_bb[3]


        score = 0.25 * instance_score[obj1_pos].item() + 0.25 * instance_score[obj2_pos].item()  # score = avg across two objects score
        score += determine_position(locality, box1, box2) / 2
    elif obj1 in obj:
        obj1_pos = obj.index(obj1)  
        score = 0.25 * instance_score[obj1_pos].item()
    elif obj2 in obj:
        obj2_pos = obj.index(obj2)
        score = 0.25 * instance_score[obj2_pos].item()
    else:
        score = 0
    if (score<0.5):
        score=0
    return score


def spatial_3d_image(prompt, _nlp, obj, obj_bounding_box, instance_score, depth):
    determine_position = determine_position_3d
    vocab_spatial_3d = ["in front of", "behind", "hidden"] 

    locality = None

    for word in vocab_spatial_3d:
        if word in prompt:
            locality = word
            break

    nlp = _nlp
    doc = nlp(prompt)
    obj1= [token.text for token in doc if token.pos_=='NOUN'][0]
    obj2= [token.text for token in doc if token.pos_=='NOUN'][-1]

    person = ['girl','boy','man','woman']
    if obj1 in person:
        obj1 = "person"
    if obj2 in person:
        obj2 = "person"
    # transform obj list to str
    obj_str = " ".join(obj)
    obj1_pos = None
    obj2_pos = None
    if obj1 in obj_str and obj2 in obj_str:
        # get obj_pos
        for i in range(len(obj)):
            if obj1 in obj[i]:
                obj1_pos = i
            if obj2 in obj[i]:
                obj2_pos = i
            if (obj1_pos is not None) and (obj2_pos is not None):
                break
            
        obj1_bb = obj_bounding_box[obj1_pos]
        obj2_bb = obj_bounding_box[obj2_pos]
        box1, box2={},{}

        box1["x_min"] = obj1_bb[0]
        box1["y_min"] = obj1_bb[1]
        box1["x_max"] = obj1_bb[2]
        box1["y_max"] = obj1_bb[3]
        box2["x_min"] = obj2_bb[0]
        box2["y_min"] = obj2_bb[1]
        box2["x_max"] = obj2_bb[2]
        box2["y_max"] = obj2_bb[3]


        score = 0.25 * instance_score[obj1_pos].item() + 0.25 * instance_score[obj2_pos].item()  # score = avg across two objects score
        score += determine_position(locality, box1, box2, depth_map=depth) / 2
    elif obj1 in obj_str:
        # get obj_pos
        for i in range(len(obj)):
            if obj1 in obj[i]:
                obj1_pos = i
                break
        # obj1_pos = obj.index(obj1)  
        score = 0.25 * instance_score[obj1_pos].item()
    elif obj2 in obj_str:
        # get obj_pos
        for i in range(len(obj)):
            if obj2 in obj[i]:
                obj2_pos = i
                break
        # obj2_pos = obj.index(obj2)
        score = 0.25 * instance_score[obj2_pos].item()
    else:
        score = 0
    return score


def numeracy_dedup(obj, obj_bounding_box):
    new_obj = []
    new_bbox = []
    for i in range(len(obj)):
        flag = 0
        for j in range(len(new_obj)):
            if calculate_iou(obj_bounding_box[i], new_bbox[j]) and obj[i] == new_obj[j]:
                flag = 1
                break
        if flag == 0:
            new_obj.append(obj[i])
            new_bbox.append(obj_bounding_box[i])
    return new_obj


def numeracy_image(prompt, nlp, new_obj, object_s, object_p):
    doc = nlp(prompt)
    number = ["a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight"]
    num_obj = []
    my_obj = []
    for i in range(len(doc)):
        if doc[i].text in number:
            if (i < len(doc) - 2) and (doc[i+1].text + " " + doc[i+2].text in object_s or doc[i+1].text + " " + doc[i+2].text in object_p):
                if doc[i+1].text + " " + doc[i+2].text in object_p and doc[i].text not in ["a", "an", "one"]:
                    my_obj.append(object_s[object_p.index(doc[i+1].text + " " + doc[i+2].text)])
                    try:
                        num_obj.append(w2n.word_to_num(doc[i].text))
                    except:
                        pass
                else:
                    num_obj.append(1)
                    my_obj.append(doc[i+1].text + " " + doc[i+2].text)
            elif doc[i+1].text in object_s or doc[i+1].text in object_p:
                if doc[i+1].text in object_s and doc[i].text in ["a", "an", "one"]:
                    num_obj.append(1)
                    my_obj.append(doc[i+1].text)
                else:
                    my_obj.append(object_s[object_p.index(doc[i+1].text)])
                    try:
                        num_obj.append(w2n.word_to_num(doc[i].text))
                    except:
                        pass
    score = 0
    weight = 1.0 / len(my_obj)             
    for i, my_obj_i in enumerate(my_obj):
        if my_obj_i in ["boy", "girl", "man", "woman"]:
            my_obj_i = "person"
        if my_obj_i == "ship":
            my_obj_i = "boat"
        if my_obj_i == "telivision":
            my_obj_i = "tv"
        if my_obj_i == "goldfish":
            my_obj_i = "fish"
        if my_obj_i == "painting":
            my_obj_i = "picture"

        if my_obj_i not in new_obj:
            for j, obj_i in enumerate(new_obj):
                if my_obj_i in obj_i:
                    new_obj[j] = my_obj_i

        if my_obj_i in new_obj:
            score += 0.5* weight
            num_det = new_obj.count(my_obj_i)
            if num_det == num_obj[i]:
                score += 0.5* weight
    return score
