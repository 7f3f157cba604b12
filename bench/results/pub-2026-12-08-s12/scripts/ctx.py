import sys
def rd(f):
    d={}
    for l in open(f):
        x=l.split()
        if len(x)<7: continue
        d[(x[0],x[1])]=d.get((x[0],x[1]),[0,0,0,0,0])
        v=[int(x[2]),int(x[3]),int(x[4]),int(x[5]),int(x[6])]
        d[(x[0],x[1])]=[a+b for a,b in zip(d[(x[0],x[1])],v)]
    return d
a=rd(sys.argv[1]+'.ta'); b=rd(sys.argv[1]+'.tb'); msgs=float(sys.argv[2])*2
for k in b:
    if k in a:
        d=[y-x for x,y in zip(a[k],b[k])]
        if d[2]==0: continue
        print("%-14s run %.0f ms wait %.0f ms runs %d (%.1f msgs/run) vol %d invol %d" % (k[1], d[0]/1e6, d[1]/1e6, d[2], msgs/d[2], d[3], d[4]))
