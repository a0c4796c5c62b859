"""What a scene is: objects with poses and a floor outline, class tables, object pools, point samples, keypoints."""
