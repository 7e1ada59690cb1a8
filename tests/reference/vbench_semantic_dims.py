"""Test-only extract of VBench's semantic-dimension checks, kept as upstream wrote them.

Source: github.com/Vchitect/VBench @ 45e79ec14e69a2187202c675d2dbce1a71843d53
  vbench/object_class.py          get_dect_from_grit (its per-frame part), check_generate
  vbench/multiple_objects.py      get_dect_from_grit (its per-frame part), check_generate
  vbench/color.py                 get_dect_from_grit (its per-frame part), check_generate,
                                  the object name from the prompt (in ``color``)
  vbench/spatial_relationship.py  get_position_score, get_dect_from_grit (per frame),
                                  check_generate
  vbench/scene.py                 check_generate
The model calls are replaced by ``ret`` (what ``run_caption_tensor`` returns for a frame:
``(dense_pred_to_caption_tuple(predictions), visualization)``). Used only as the oracle of
tests; not part of the package.
"""


# -- object_class.py
def object_class_frame(ret):
    try:
        return set(ret[0][0][2])
    except:  # noqa: E722 - as upstream
        return set()


def object_class_check_generate(key_info, predictions):
    cur_cnt = 0
    for pred in predictions:
        if key_info in pred:
            cur_cnt += 1
    return cur_cnt


# -- multiple_objects.py
def multiple_objects_frame(ret):
    if len(ret[0]) > 0:
        return set(ret[0][0][2])
    return set([])


def multiple_objects_check_generate(key_info, predictions):
    cur_cnt = 0
    key_a, key_b = key_info.split(' and ')
    key_a = key_a.strip()
    key_b = key_b.strip()
    for pred in predictions:
        if key_a in pred and key_b in pred:
            cur_cnt += 1
    return cur_cnt


# -- color.py
def color_frame(ret):
    cur_pred = []
    if len(ret[0]) < 1:
        cur_pred.append(['', ''])
    else:
        for idx, cap_det in enumerate(ret[0]):
            cur_pred.append([cap_det[0], cap_det[2][0]])
    return cur_pred


def color_object_info(prompt, color_info):
    return prompt.replace('a ', '').replace('an ', '').replace(color_info, '').strip()


def color_check_generate(color_key, object_key, predictions):
    cur_object_color, cur_object = 0, 0
    for frame_pred in predictions:
        object_flag, color_flag = False, False
        for pred in frame_pred:
            if object_key == pred[1]:
                for color_query in ["white", "red", "pink", "blue", "silver", "purple", "orange",
                                    "green", "gray", "yellow", "black", "grey"]:
                    if color_query in pred[0]:
                        object_flag = True
                if color_key in pred[0]:
                    color_flag = True
        if color_flag:
            cur_object_color += 1
        if object_flag:
            cur_object += 1
    return cur_object, cur_object_color


# -- spatial_relationship.py
def get_position_score(locality, obj1, obj2, iou_threshold=0.1):
    box1 = {'x_min': obj1[0], 'y_min': obj1[1], 'x_max': obj1[2], 'y_max': obj1[3],
            'width': obj1[2] - obj1[0], 'height': obj1[3] - obj1[1]}
    box2 = {'x_min': obj2[0], 'y_min': obj2[1], 'x_max': obj2[2], 'y_max': obj2[3],
            'width': obj2[2] - obj2[0], 'height': obj2[3] - obj2[1]}
    box1_center = ((box1['x_min'] + box1['x_max']) / 2, (box1['y_min'] + box1['y_max']) / 2)
    box2_center = ((box2['x_min'] + box2['x_max']) / 2, (box2['y_min'] + box2['y_max']) / 2)
    x_distance = box2_center[0] - box1_center[0]
    y_distance = box2_center[1] - box1_center[1]
    x_overlap = max(0, min(box1['x_max'], box2['x_max']) - max(box1['x_min'], box2['x_min']))
    y_overlap = max(0, min(box1['y_max'], box2['y_max']) - max(box1['y_min'], box2['y_min']))
    intersection = x_overlap * y_overlap
    box1_area = (box1['x_max'] - box1['x_min']) * (box1['y_max'] - box1['y_min'])
    box2_area = (box2['x_max'] - box2['x_min']) * (box2['y_max'] - box2['y_min'])
    union = box1_area + box2_area - intersection
    iou = intersection / union
    max_width = max(box1['width'], box2['width'])  # noqa: F841 - unused upstream too
    max_height = max(box1['height'], box2['height'])  # noqa: F841
    score = 0
    if locality in 'on the right of' or locality in 'on the left of':
        if abs(x_distance) > abs(y_distance) and iou < iou_threshold:
            score = 1
        elif abs(x_distance) > abs(y_distance) and iou >= iou_threshold:
            score = iou_threshold / iou
        else:
            score = 0
    elif locality in 'on the bottom of' or locality in 'on the top of':
        if abs(y_distance) > abs(x_distance) and iou < iou_threshold:
            score = 1
        elif abs(y_distance) > abs(x_distance) and iou >= iou_threshold:
            score = iou_threshold / iou
        else:
            score = 0
    return score


def spatial_frame(ret):
    pred_cur = []
    if len(ret[0]) > 0:
        for info in ret[0]:
            pred_cur.append([info[0], info[1]])
    return pred_cur


def spatial_check_generate(key_info, predictions):
    key_a = key_info['object_a']
    key_b = key_info['object_b']
    relation = key_info['relationship']
    frame_score = []
    for frame_pred in predictions:
        frame_obj_locats = []
        cur_score = [0]
        for item in frame_pred:
            if (key_a == item[0]) or (key_b == item[0]):
                frame_obj_locats.append(item[1])
            for c_obj1 in range(len(frame_obj_locats) - 1):
                for c_obj2 in range(c_obj1 + 1, len(frame_obj_locats)):
                    score_obj1_obj2 = get_position_score(relation, frame_obj_locats[c_obj1],
                                                         frame_obj_locats[c_obj2])
                    cur_score.append(score_obj1_obj2)
        frame_score.append(max(cur_score))
    return frame_score


# -- scene.py
def scene_check_generate(key_info, predictions):
    cur_cnt = 0
    key = key_info['scene']
    for pred in predictions:
        q_flag = [q in pred for q in key.split(' ')]
        if len(q_flag) == sum(q_flag):
            cur_cnt += 1
    return cur_cnt
